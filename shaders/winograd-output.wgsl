// Winograd F(m×m, 3×3), the last pass (F(2×2)'s 2nd of 2, F(4×4)'s 3rd of 3): the output transform Y = Aᵀ M A of
// each tile's α×α M (α = m + 2), then the epilogue (bias, residual, and with SKIP a second copy of the result) on each
// of the tile's m×m pixels that lies inside the output (sizes not a multiple of m leave the last row or column of
// tiles partly outside). One thread per (tile, output channel), channels fastest, so the α² reads of M[ξ, t, ·] and
// the writes are contiguous across threads. Without F4, m = 2:
//   Aᵀ = [1 1 1 0; 0 1 -1 -1];
// with F4, m = 4:
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].

struct Params {
  ho: u32,
  wo: u32,
  cout: u32,
  tiles_x: u32,
  tiles_per_image: u32,
  t0: u32,            // first tile of this chunk
  tiles: u32,         // tiles in this chunk
  out_stride: u32,    // channels per pixel of the output tensor (wider than cout for a channel slice)
  out_offset: u32,
  skip_stride: u32,
  skip_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> m_in: array<f32>;  // [α², tiles, cout]
#if BIAS
@group(0) @binding(2) var<storage, read> bias: array<f32>;
#endif
#if RESIDUAL
@group(0) @binding(3) var<storage, read> residual: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
#if SKIP
@group(0) @binding(5) var<storage, read_write> skip: array<f32>;
#endif

override WG: u32 = 256;

// Output pixel (oy, ox) of image `image`, channel co, unless it lies past the output's edge.
fn emit(image: u32, oy: u32, ox: u32, co: u32, y: f32) {
  if (oy >= p.ho || ox >= p.wo) { return; }
  let pixel = (image * p.ho + oy) * p.wo + ox;
  var v = y;
#if BIAS
  v += bias[co];
#endif
#if RESIDUAL
  v += residual[pixel * p.cout + co];
#endif
  out[pixel * p.out_stride + p.out_offset + co] = v;
#if SKIP
  skip[pixel * p.skip_stride + p.skip_offset + co] = v;
#endif
}

#if F4
const M: u32 = 4u;

// Aᵀ z for six values z: four outputs.
fn at(z: array<f32, 6>) -> vec4f {
  let s = z[1] + z[2];
  let d = z[1] - z[2];
  let s2 = z[3] + z[4];
  let d2 = z[3] - z[4];
  return vec4f(z[0] + s + s2, d + 2.0 * d2, s + 4.0 * s2, d + 8.0 * d2 + z[5]);
}

// Y = Aᵀ M A of entry i (tile, channel) into the tile whose top-left output pixel is (oy, ox).
fn output_tile(i: u32, image: u32, oy: u32, ox: u32, co: u32) {
  let plane = p.tiles * p.cout;
  // Aᵀ M column by column: cols[c][r] = (Aᵀ M)[r][c].
  var cols: array<vec4f, 6>;
  for (var c = 0u; c < 6u; c++) {
    var z: array<f32, 6>;
    for (var r = 0u; r < 6u; r++) { z[r] = m_in[(r * 6u + c) * plane + i]; }
    cols[c] = at(z);
  }
  for (var r = 0u; r < 4u; r++) {
    let y = at(array<f32, 6>(cols[0][r], cols[1][r], cols[2][r], cols[3][r], cols[4][r], cols[5][r]));
    for (var c = 0u; c < 4u; c++) { emit(image, oy + r, ox + c, co, y[c]); }
  }
}
#else
const M: u32 = 2u;

// Row r of the 4×4 M of entry i (tile, channel): M[4r + c] for c = 0…3.
fn m_row(i: u32, r: u32) -> vec4f {
  let plane = p.tiles * p.cout;
  let at = i + 4u * r * plane;
  return vec4f(m_in[at], m_in[at + plane], m_in[at + 2u * plane], m_in[at + 3u * plane]);
}

// Y = Aᵀ M A of entry i (tile, channel) into the tile whose top-left output pixel is (oy, ox).
fn output_tile(i: u32, image: u32, oy: u32, ox: u32, co: u32) {
  // Aᵀ M (2×4), then (Aᵀ M) A (2×2).
  let m0 = m_row(i, 0u);
  let m1 = m_row(i, 1u);
  let m2 = m_row(i, 2u);
  let m3 = m_row(i, 3u);
  let s0 = m0 + m1 + m2;
  let s1 = m1 - m2 - m3;
  emit(image, oy, ox, co, s0.x + s0.y + s0.z);
  emit(image, oy, ox + 1u, co, s0.y - s0.z - s0.w);
  emit(image, oy + 1u, ox, co, s1.x + s1.y + s1.z);
  emit(image, oy + 1u, ox + 1u, co, s1.y - s1.z - s1.w);
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.tiles * p.cout) { return; }
  let t = i / p.cout;
  let co = i - t * p.cout;
  let tile = p.t0 + t;
  let r = tile % p.tiles_per_image;
  output_tile(i, tile / p.tiles_per_image, (r / p.tiles_x) * M, (r % p.tiles_x) * M, co);
}
