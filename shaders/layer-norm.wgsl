// LayerNorm over the last dimension: y = (x − μ) / √(σ² + eps) · gamma + beta per row of C values.
// One workgroup per row and three sweeps over it: the sum for μ, then Σ(x − μ)² for σ² (the centred two-pass
// form, exact enough for rows with a large mean), then the write. Only the first sweep reads DRAM; the row is in
// cache for the other two. Output rows may be channel slices of a wider tensor.

struct Params {
  rows: u32,
  channels: u32,
  out_offset: u32,
  out_stride: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override WG: u32 = 64;  // a power of two (tree reduction)

var<workgroup> sh: array<f32, WG>;

// Sum of `v` over the workgroup; every invocation must call it (it holds barriers).
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  sh[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { sh[lid] += sh[lid + stride]; }
    workgroupBarrier();
  }
  let total = sh[0];
  // The next call overwrites sh: everyone must have read the total first.
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.channels;
  let n = f32(p.channels);

  var s = 0.0;
  for (var c = lid; c < p.channels; c += WG) { s += x[base + c]; }
  let mean = workgroup_sum(s, lid) / n;

  var q = 0.0;
  for (var c = lid; c < p.channels; c += WG) {
    let d = x[base + c] - mean;
    q += d * d;
  }
  let rstd = inverseSqrt(workgroup_sum(q, lid) / n + p.eps);

  let dst = row * p.out_stride + p.out_offset;
  for (var c = lid; c < p.channels; c += WG) {
    out[dst + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
  }
}
