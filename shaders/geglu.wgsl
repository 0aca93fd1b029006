// GEGLU: out[r, f] = x[r, f] · gelu(x[r, F + f]) for x [rows, 2F] (shaders/activations.wgsl is prepended).
// Output row r starts at r · out_stride + out_offset, so the result may be a channel slice of a wider tensor.
// Each thread handles PER_THREAD outputs WG apart: a workgroup's loads of the hidden half, of the gate half and its
// stores each cover consecutive addresses.

struct Params {
  count: u32,       // outputs: rows · F
  features: u32,    // F
  out_offset: u32,
  out_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;
const PER_THREAD: u32 = 4u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.x + wid.y * nwg.x) * WG * PER_THREAD + lid;
  for (var j = 0u; j < PER_THREAD; j++) {
    let i = base + j * WG;
    if (i >= p.count) { return; }
    let row = i / p.features;
    let f = i - row * p.features;
    let hidden = x[row * 2u * p.features + f];
    let gate = x[(row * 2u + 1u) * p.features + f];
    out[row * p.out_stride + p.out_offset + f] = hidden * gelu(gate);
  }
}
