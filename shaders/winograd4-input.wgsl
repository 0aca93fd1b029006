// Winograd F(4×4, 3×3), pass 1 of 3: the input transform V[ξ, t, ci] = (Bᵀ d B)[ξ] of the 6×6 patch d of tile t
// (top-left pixel (4ty − 1, 4tx − 1), zero outside the image), ξ = 6i + j, with
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
// One thread per (tile, input channel), channels fastest, so the 36 loads of each patch row and the 36 writes are
// contiguous across threads. With `up` the patch is read from x upsampled (nearest: pixel i of the hv × wv image the
// conv sees is x's pixel i >> 1) without storing it.

struct Params {
  h: u32,               // input height and width as stored (before upsampling)
  w: u32,
  cin: u32,
  up: u32,
  tiles_x: u32,         // output tiles per row, ⌈Wo/4⌉
  tiles_per_image: u32,
  t0: u32,              // first tile of this chunk
  tiles: u32,           // tiles in this chunk
  hv: u32,              // the input's height and width as the conv sees it (= the output's): h, w, or upsampled
  wv: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;  // [36, tiles, cin]

override WG: u32 = 256;

// Bᵀ z for a column or row z of six values.
fn bt(z: array<f32, 6>) -> array<f32, 6> {
  return array<f32, 6>(
    4.0 * z[0] - 5.0 * z[2] + z[4],
    -4.0 * (z[1] + z[2]) + z[3] + z[4],
    4.0 * (z[1] - z[2]) - z[3] + z[4],
    2.0 * (z[3] - z[1]) - z[2] + z[4],
    2.0 * (z[1] - z[3]) - z[2] + z[4],
    4.0 * z[1] - 5.0 * z[3] + z[5],
  );
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.tiles * p.cin) { return; }
  let t = i / p.cin;
  let ci = i - t * p.cin;
  let tile = p.t0 + t;
  let r = tile % p.tiles_per_image;
  let image = (tile / p.tiles_per_image) * p.h * p.w;
  let y0 = i32(r / p.tiles_x) * 4 - 1;
  let x0 = i32(r % p.tiles_x) * 4 - 1;
  let hv = i32(p.hv);
  let wv = i32(p.wv);

  // Bᵀ d, column by column: rows[a][c] for a row a of Bᵀ and a patch column c.
  var rows: array<array<f32, 6>, 6>;
  for (var c = 0; c < 6; c++) {
    let xx = x0 + c;
    let xin = xx >= 0 && xx < wv;
    let sx = u32(max(xx, 0)) >> p.up;
    var col: array<f32, 6>;
    for (var a = 0; a < 6; a++) {
      let y = y0 + a;
      let ok = xin && y >= 0 && y < hv;
      // Out-of-image entries load offset 0 (always in bounds) and are selected away, never multiplied by zero.
      let o = select(0u, (image + (u32(max(y, 0)) >> p.up) * p.w + sx) * p.cin + ci, ok);
      col[a] = select(0.0, x[o], ok);
    }
    let b = bt(col);
    for (var a = 0; a < 6; a++) { rows[a][c] = b[a]; }
  }
  let plane = p.tiles * p.cin;
  for (var a = 0; a < 6; a++) {
    let b = bt(rows[a]);
    for (var j = 0u; j < 6u; j++) {
      v[(u32(a) * 6u + j) * plane + i] = b[j];
    }
  }
}
