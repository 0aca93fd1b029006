// out = f(x) elementwise for f ∈ {SiLU, GELU, QuickGELU} (shaders/activations.wgsl is prepended).
// x is [rows, channels] flattened; out is the same, or a channel slice of a wider tensor (SLICE): row r, channel c
// goes to out[r · out_stride + out_offset + c]. Each thread handles PER_THREAD elements WG apart, so every load and
// store instruction of a workgroup touches consecutive addresses.

struct Params {
  count: u32,       // elements of x
  channels: u32,    // last dimension of x
  out_offset: u32,  // first output channel
  out_stride: u32,  // last dimension of the output tensor
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;
const PER_THREAD: u32 = 4u;

fn out_index(i: u32) -> u32 {
#if SLICE
  let row = i / p.channels;
  return row * p.out_stride + p.out_offset + (i - row * p.channels);
#else
  return i;
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.x + wid.y * nwg.x) * WG * PER_THREAD + lid;
  for (var j = 0u; j < PER_THREAD; j++) {
    let i = base + j * WG;
    if (i >= p.count) { return; }
    let v = x[i];
#if SILU
    out[out_index(i)] = silu(v);
#elif GELU
    out[out_index(i)] = gelu(v);
#elif QUICK_GELU
    out[out_index(i)] = quick_gelu(v);
#endif
  }
}
