// Sinusoidal timestep embedding: out[b, i] and out[b, half + i] are sin and cos (cos and sin when FLIP) of
// t[b] · freq[i], with freq the f32 table diffusers computes (engine/ref/timestep-embedding.ts, uploaded); the
// column after 2·half is zero when dim is odd. One invocation per output value.
//
// Arguments reach ~1000 (timestep 999 × freq 1), far outside [−π, π] where WGSL guarantees sin/cos accuracy
// (2^-11 absolute, and none beyond), so both come from Cephes' sinf/cosf: reduction by multiples of π/4 held in
// three parts whose products with the multiple are exact for |arg| < 8192, then degree-7/8 polynomials on
// [−π/4, π/4]. The product t · freq is a correctly rounded f32 multiply, so the argument is diffusers' exactly.

struct Params {
  count: u32,  // batch · dim
  dim: u32,
  half_dim: u32,
  flip: u32,   // 1: cos first
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> timesteps: array<f32>;
@group(0) @binding(2) var<storage, read> freqs: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 64;

// (sin x, cos x) for |x| < 8192 with absolute error ~1e-7.
fn sin_cos(x: f32) -> vec2f {
  let ax = abs(x);
  let j = (u32(ax * 1.27323954473516) + 1u) & ~1u;  // even multiple of π/4 nearest to ax
  let y = f32(j);
  let r = ((ax - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  var sc: vec2f;
  switch ((j >> 1u) & 3u) {
    case 0u: { sc = vec2f(s, c); }
    case 1u: { sc = vec2f(c, -s); }
    case 2u: { sc = vec2f(-s, -c); }
    default: { sc = vec2f(-c, s); }
  }
  return vec2f(select(sc.x, -sc.x, x < 0.0), sc.y);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.count) { return; }
  let b = i / p.dim;
  let col = i - b * p.dim;
  if (col >= 2u * p.half_dim) {
    out[i] = 0.0;
    return;
  }
  let second = col >= p.half_dim;
  let k = select(col, col - p.half_dim, second);
  let sc = sin_cos(timesteps[b] * freqs[k]);
  // Without FLIP the first half is sin; FLIP swaps the halves.
  out[i] = select(sc.x, sc.y, second != (p.flip == 1u));
}
