// out[b, t, d] = table[ids[b, t], d] + pos[t, d]. The table is a weight [V, D] in any storage format
// (weights.wgsl is prepended); ids arrive as f32 (exact below 2^24, far above any vocabulary).

struct Params {
  tokens: u32,  // B·T
  seq: u32,     // T (position index = token index mod T)
  dim: u32,     // D
  row: u32,     // words per table row
  vocab: u32,   // V
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> ids: array<f32>;
#if POSITIONS
@group(0) @binding(4) var<storage, read> pos: array<f32>;
#endif
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let token = wid.x + wid.y * nwg.x;
  if (token >= p.tokens) { return; }
  let id = min(u32(ids[token]), p.vocab - 1u);
  for (var d = lid; d < p.dim; d += WG) {
    var v = weight(id, d, p.row);
#if POSITIONS
    v += pos[(token % p.seq) * p.dim + d];
#endif
    out[token * p.dim + d] = v;
  }
}
