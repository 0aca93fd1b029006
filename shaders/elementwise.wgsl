// out[i] = a[i] ⊕ b[i mod len(b)] for ⊕ in {+, ×}, or out[i] = a[i] · alpha + beta.
// b broadcasts over leading dimensions (len(b) divides len(a)): a per-channel vector on an NHWC tensor, or a
// whole tensor. Four elements per thread; the grid may be 2-D when the element count exceeds one dimension.

struct Params {
  count: u32,     // elements of a (and out)
  b_count: u32,   // elements of b (broadcast period)
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
#if BINARY
@group(0) @binding(2) var<storage, read> b: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = ((wid.x + wid.y * nwg.x) * WG + lid) * 4u;
  for (var j = 0u; j < 4u; j++) {
    let i = base + j;
    if (i >= p.count) { return; }
#if ADD
    out[i] = a[i] + b[i % p.b_count];
#elif MUL
    out[i] = a[i] * b[i % p.b_count];
#else
    out[i] = a[i] * p.alpha + p.beta;
#endif
  }
}
