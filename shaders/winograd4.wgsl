// Winograd F(4×4, 3×3), pass 2 of 3: 36 batched GEMMs over the transformed input.
//
//   M[ξ, t, co] = Σ_ci V[ξ, t, ci] · U[ξ, co, ci]
//
// V is pass 1's [36, tiles, Cin] (shaders/winograd4-input.wgsl), U the pre-transformed weight (engine/ops/
// winograd4.ts) stored as a [36·Cout, Cin] matrix in any weight format (shaders/weights.wgsl, prepended with
// bindings 1 and 2). Each workgroup computes one ξ (wid.z / n_tiles).
//
// Tiling and staging are those of shaders/winograd.wgsl (the op prepends `const TM, TN, TK, RM`, `accumulate` and
// `store_block`): TM tiles × TN channels per workgroup, RM rows × 4 channels (strided by TN/4) per thread, TK input
// channels staged per step, staging loads along ci (contiguous in V and in U's rows).

const THREADS = (TM / RM) * (TN / 4u);
const COLS = TN / 4u;
const QUADS_PER_PASS = THREADS / TK;
const A_QUADS = TM / 4u / QUADS_PER_PASS;
const B_QUADS = COLS / QUADS_PER_PASS;
const AW = TM / 4u + 1u;
const BW = COLS + 1u;

struct Params {
  cin: u32,
  cout: u32,
  tiles: u32,           // tiles in this chunk
  m_tiles: u32,         // ⌈tiles / TM⌉
  n_tiles: u32,         // ⌈cout / TN⌉
  row: u32,             // words per weight row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> v: array<f32>;            // [36, tiles, cin]
@group(0) @binding(4) var<storage, read_write> m_out: array<f32>;  // [36, tiles, cout]

var<workgroup> As: array<vec4f, TK * AW>;
var<workgroup> Bs: array<vec4f, TK * BW>;

var<private> xi: u32;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let mt = wid.x + wid.y * nwg.x;
  if (mt >= p.m_tiles) { return; }
  xi = wid.z / p.n_tiles;
  let m0 = mt * TM;
  let n0 = (wid.z % p.n_tiles) * TN;
  let kl = lid % TK;
  let ql = lid / TK;
  let plane = xi * p.tiles;

  var acc: array<vec4f, RM>;
  let tx = lid % COLS;
  let ty = lid / COLS;

  for (var k0 = 0u; k0 < p.cin; k0 += TK) {
    let ci = k0 + kl;
    let k_live = ci < p.cin;
    for (var j = 0u; j < A_QUADS; j++) {
      let t = m0 + (ql + j * QUADS_PER_PASS) * 4u;
      var a = vec4f(0.0);
      for (var c = 0u; c < 4u; c++) {
        if (k_live && t + c < p.tiles) { a[c] = v[(plane + t + c) * p.cin + ci]; }
      }
      As[kl * AW + ql + j * QUADS_PER_PASS] = a;
    }
    for (var j = 0u; j < B_QUADS; j++) {
      let t = ql + j * QUADS_PER_PASS;
      var b = vec4f(0.0);
      for (var c = 0u; c < 4u; c++) {
        let co = n0 + t + c * COLS;
        if (k_live && co < p.cout) { b[c] = weight(xi * p.cout + co, ci, p.row); }
      }
      Bs[kl * BW + t] = b;
    }
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
