// Softmax over the last dimension: out[r, i] = exp(x[r, i] − m_r) / Σ_j exp(x[r, j] − m_r), m_r = max_j x[r, j].
// One workgroup per row, any row length. Each thread keeps an online (max, sum) pair over its strided elements
// (the sum is rescaled whenever the max grows), the pairs are merged in a shared-memory tree, and a second sweep
// over the row (now in cache) writes the result. Output rows may be channel slices of a wider tensor.

struct Params {
  rows: u32,
  len: u32,         // row length
  out_offset: u32,
  out_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;  // a power of two (tree reduction)
const LOWEST: f32 = -0x1.fffffep+127f;  // the most negative finite f32

var<workgroup> sh_max: array<f32, WG>;
var<workgroup> sh_sum: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.len;

  var m = LOWEST;
  var s = 0.0;
  for (var i = lid; i < p.len; i += WG) {
    let v = x[base + i];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  sh_max[lid] = m;
  sh_sum[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let m2 = sh_max[lid + stride];
      let mm = max(m, m2);
      s = s * exp(m - mm) + sh_sum[lid + stride] * exp(m2 - mm);
      m = mm;
      sh_max[lid] = m;
      sh_sum[lid] = s;
    }
    workgroupBarrier();
  }
  let row_max = sh_max[0];
  let inv_sum = 1.0 / sh_sum[0];

  let dst = row * p.out_stride + p.out_offset;
  for (var i = lid; i < p.len; i += WG) {
    out[dst + i] = exp(x[base + i] - row_max) * inv_sum;
  }
}
