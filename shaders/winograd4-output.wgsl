// Winograd F(4×4, 3×3), pass 3 of 3: the output transform Y = Aᵀ M A with
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
// then the epilogue (bias, residual, and with SKIP a second copy of the result) on each of the tile's 4×4 pixels
// that lies inside the output (sizes not a multiple of 4 leave the last row or column of tiles partly outside).
// One thread per (tile, output channel), channels fastest, so the 36 reads of M[ξ, t, ·] and the writes are
// contiguous across threads.

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
@group(0) @binding(1) var<storage, read> m_in: array<f32>;  // [36, tiles, cout]
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

// Aᵀ z for six values z: four outputs.
fn at(z: array<f32, 6>) -> vec4f {
  let s = z[1] + z[2];
  let d = z[1] - z[2];
  let s2 = z[3] + z[4];
  let d2 = z[3] - z[4];
  return vec4f(z[0] + s + s2, d + 2.0 * d2, s + 4.0 * s2, d + 8.0 * d2 + z[5]);
}

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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.tiles * p.cout) { return; }
  let t = i / p.cout;
  let co = i - t * p.cout;
  let plane = p.tiles * p.cout;

  // Aᵀ M column by column: cols[c][r] = (Aᵀ M)[r][c].
  var cols: array<vec4f, 6>;
  for (var c = 0u; c < 6u; c++) {
    var z: array<f32, 6>;
    for (var r = 0u; r < 6u; r++) { z[r] = m_in[(r * 6u + c) * plane + i]; }
    cols[c] = at(z);
  }

  let tile = p.t0 + t;
  let rt = tile % p.tiles_per_image;
  let image = tile / p.tiles_per_image;
  let oy = (rt / p.tiles_x) * 4u;
  let ox = (rt % p.tiles_x) * 4u;
  for (var r = 0u; r < 4u; r++) {
    let y = at(array<f32, 6>(cols[0][r], cols[1][r], cols[2][r], cols[3][r], cols[4][r], cols[5][r]));
    for (var c = 0u; c < 4u; c++) { emit(image, oy + r, ox + c, co, y[c]); }
  }
}
