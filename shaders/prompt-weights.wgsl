// Prompt weighting of the text encoder's output, A1111's rule, per prompt b of z [B, T, C] and weights w [B, T]:
//   y[b, t, c] = z[b, t, c] · w[b, t] · r_b,   r_b = mean(z[b]) / mean(z[b] · w[b])   (1 when the weighted mean is 0)
// One workgroup per prompt (T·C is 77 × 768 for SD 1.x): a strided sweep for both f32 sums, a tree reduction,
// then the write. The ratio of means is the ratio of sums (the counts cancel). With every weight 1 the two sums
// add the same numbers in the same order and come out equal; r_b is then set to 1 rather than divided (WGSL's
// division is not correctly rounded, x / x may miss 1), so y is z bit for bit.

struct Params {
  batch: u32,
  tokens: u32,
  hidden: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;  // a power of two (tree reduction)

var<workgroup> plain: array<f32, WG>;
var<workgroup> weighted: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x + wid.y * nwg.x;
  if (b >= p.batch) { return; }
  let n = p.tokens * p.hidden;
  let base = b * n;
  let wbase = b * p.tokens;

  var s = 0.0;
  var sw = 0.0;
  for (var i = lid; i < n; i += WG) {
    let v = z[base + i];
    s += v;
    sw += v * w[wbase + i / p.hidden];
  }
  plain[lid] = s;
  weighted[lid] = sw;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      plain[lid] += plain[lid + stride];
      weighted[lid] += weighted[lid + stride];
    }
    workgroupBarrier();
  }
  let ratio = select(plain[0] / weighted[0], 1.0, weighted[0] == 0.0 || weighted[0] == plain[0]);

  for (var i = lid; i < n; i += WG) {
    out[base + i] = z[base + i] * w[wbase + i / p.hidden] * ratio;
  }
}
