// Winograd F(m×m, 3×3), stride 1, the GEMM pass: α² batched GEMMs (α = m + 2), one per point ξ = α·i + j of the
// transformed domain,
//
//   M[ξ, t, co] = Σ_ci V[ξ, t, ci] · U[ξ, co, ci]        V[·, t, ci] = Bᵀ d B,  d = the α×α input patch of tile t
//
// t an m×m output tile (image-major, then rows, then columns) of this chunk of tiles, U the pre-transformed weight
// (engine/ops/winograd-common.ts) stored as a [α²·Cout, Cin] matrix in any weight format (shaders/weights.wgsl,
// prepended with bindings 1 and 2). Each workgroup computes one ξ (wid.z / n_tiles). Where V comes from is each m's:
// - F(2×2) (without F4): V[ξ] needs only the 2×2 patch entries where row i and column j of Bᵀ are non-zero: 4 loads
//   and ±1 weights, computed from x while A is staged instead of a V buffer 4× the input's size going through memory;
// - F(4×4) (F4): pass 1's V [36, tiles, Cin] (shaders/winograd4-input.wgsl), whose rows of Bᵀ are too dense to fuse.
//
// Tiling and staging are those of shaders/conv2d.wgsl (the op prepends `const TM, TN, TK, RM`, `accumulate`,
// `store_block` and shaders/conv2d-tile.wgsl): TM tiles × TN channels per workgroup, RM rows × 4 channels (strided
// by TN/4) per thread, TK input channels staged per step, staging loads along ci (contiguous in NHWC, in V and in
// U's rows).

struct Params {
  h: u32,               // input height and width as stored (before upsampling)
  w: u32,
  cin: u32,
  cout: u32,
  up: u32,              // 1: the conv sees x upsampled: pixel (y, x) of the upsampled image is x[y >> 1, x >> 1]
  tiles_x: u32,         // output tiles per row, ⌈Wo/m⌉
  tiles_per_image: u32,
  t0: u32,              // first tile of this chunk
  tiles: u32,           // tiles in this chunk
  m_tiles: u32,         // ⌈tiles / TM⌉
  n_tiles: u32,         // ⌈cout / TN⌉
  row: u32,             // words per weight row
  hv: u32,              // the input's height and width as the conv sees it (= the output's): h, w, or upsampled
  wv: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> src: array<f32>;          // F4: V [36, tiles, cin]; else x NHWC
@group(0) @binding(4) var<storage, read_write> m_out: array<f32>;  // [α², tiles, cout]

// This workgroup's ξ.
var<private> xi: u32;

#if F4
// V is in memory: nothing to locate before the K loop.
fn prepare_a(m0: u32, ql: u32) {}

// Stages column ci of V[ξ] for this thread's tiles m0 + 4(ql + j·QUADS_PER_PASS) + c.
fn stage_a(kl: u32, ql: u32, m0: u32, ci: u32, k_live: bool) {
  let plane = xi * p.tiles;
  for (var j = 0u; j < A_QUADS; j++) {
    let t = m0 + (ql + j * QUADS_PER_PASS) * 4u;
    var a = vec4f(0.0);
    for (var c = 0u; c < 4u; c++) {
      if (k_live && t + c < p.tiles) { a[c] = src[(plane + t + c) * p.cin + ci]; }
    }
    As[kl * AW + ql + j * QUADS_PER_PASS] = a;
  }
}
#else
// Rows of Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: where each row's two non-zeros are, and their signs.
const BT_AT = array<vec2i, 4>(vec2i(0, 2), vec2i(1, 2), vec2i(1, 2), vec2i(1, 3));
const BT_SIGN = array<vec2f, 4>(vec2f(1.0, -1.0), vec2f(1.0, 1.0), vec2f(-1.0, 1.0), vec2f(1.0, -1.0));

// Per staged tile the element offsets in x of the four patch entries V[ξ] combines with their coefficients: the ±1
// of Bᵀ, or 0 for zero padding (whose offset is then 0, so every load stays in bounds).
var<private> at: array<vec4u, A_QUADS * 4u>;
var<private> coef: array<vec4f, A_QUADS * 4u>;

// V[ξ, tile i of this thread's staged tiles, ci]. The loads are unconditional (no divergent branches) and padding
// is selected away rather than multiplied by zero, so a non-finite value elsewhere in x cannot leak in.
fn load_v(i: u32, ci: u32) -> f32 {
  let o = at[i];
  let c = coef[i];
  let d = vec4f(src[o.x + ci], src[o.y + ci], src[o.z + ci], src[o.w + ci]);
  return dot(c, select(vec4f(0.0), d, c != vec4f(0.0)));
}

// A thread always stages the same tiles: their patch offsets and coefficients are found once, before the K loop.
fn prepare_a(m0: u32, ql: u32) {
  let rows = BT_AT[xi / 4u];
  let cols = BT_AT[xi % 4u];
  let rs = BT_SIGN[xi / 4u];
  let cs = BT_SIGN[xi % 4u];
  let sign = vec4f(rs.x * cs.x, rs.x * cs.y, rs.y * cs.x, rs.y * cs.y);
  let hv = i32(p.hv);
  let wv = i32(p.wv);
  for (var i = 0u; i < A_QUADS * 4u; i++) {
    let t = m0 + (ql + (i / 4u) * QUADS_PER_PASS) * 4u + i % 4u;
    let tile = p.t0 + t;
    let r = tile % p.tiles_per_image;
    let image = (tile / p.tiles_per_image) * p.h * p.w;
    let y = vec2i(i32(r / p.tiles_x) * 2 - 1) + rows;
    let xx = vec2i(i32(r % p.tiles_x) * 2 - 1) + cols;
    let yin = (y >= vec2i(0)) & (y < vec2i(hv)) & vec2(t < p.tiles);
    let xin = (xx >= vec2i(0)) & (xx < vec2i(wv));
    let sy = vec2u(max(y, vec2i(0))) >> vec2u(p.up);
    let sx = vec2u(max(xx, vec2i(0))) >> vec2u(p.up);
    let ok = vec4(yin.x && xin.x, yin.x && xin.y, yin.y && xin.x, yin.y && xin.y);
    let o = (vec4u(image) + vec4u(sy.x, sy.x, sy.y, sy.y) * p.w + vec4u(sx.x, sx.y, sx.x, sx.y)) * p.cin;
    at[i] = select(vec4u(0u), o, ok);
    coef[i] = select(vec4f(0.0), sign, ok);
  }
}

// Stages column ci of V[ξ] for this thread's tiles, transformed from x as it is loaded.
fn stage_a(kl: u32, ql: u32, m0: u32, ci: u32, k_live: bool) {
  for (var j = 0u; j < A_QUADS; j++) {
    var v = vec4f(0.0);
    if (k_live) {
      v = vec4f(load_v(4u * j, ci), load_v(4u * j + 1u, ci), load_v(4u * j + 2u, ci), load_v(4u * j + 3u, ci));
    }
    As[kl * AW + ql + j * QUADS_PER_PASS] = v;
  }
}
#endif

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let mt = wid.x + wid.y * nwg.x;
  if (mt >= p.m_tiles) { return; }
  xi = wid.z / p.n_tiles;
  let m0 = mt * TM;
  let n0 = (wid.z % p.n_tiles) * TN;
  let kl = lid % TK;
  let ql = lid / TK;
  prepare_a(m0, ql);

  var acc: array<vec4f, RM>;
  let tx = lid % COLS;
  let ty = lid / COLS;

  for (var k0 = 0u; k0 < p.cin; k0 += TK) {
    let ci = k0 + kl;
    let k_live = ci < p.cin;
    stage_a(kl, ql, m0, ci, k_live);
    stage_weights(kl, ql, xi * p.cout, n0, ci, k_live);
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      accumulate(&acc, kk * AW + ty * (RM / 4u), Bs[kk * BW + tx]);
    }
    workgroupBarrier();
  }
  store_block(&acc, m0 + ty * RM, n0 + tx);
}

// One accumulator row: tile t (of this chunk), channels co + c·COLS of M[ξ].
fn store_row(t: u32, co: u32, row: vec4f) {
  if (t >= p.tiles) { return; }
  for (var c = 0u; c < 4u; c++) {
    let cc = co + c * COLS;
    if (cc < p.cout) {
      m_out[(xi * p.tiles + t) * p.cout + cc] = row[c];
    }
  }
}
