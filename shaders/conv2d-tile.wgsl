// The GEMM staging the conv kernels share (shaders/conv2d.wgsl and winograd.wgsl). The inner loop over the staged
// columns stays in each kernel: as a function taking the accumulator by pointer it ran 9% slower (direct) and 4%
// (F(2×2)) on an NVIDIA H100 (npm run bench -- ops --filter "conv 3×3").
//
// engine/ops/conv2d.ts `resolveTile` appends this to the tile's `const TM, TN, TK, RM`, `accumulate` and
// `store_block`, and each kernel declares `p` with `cout` (the weight rows per matrix) and `row` (words per weight
// row) and reads weights through shaders/weights.wgsl's `weight`.
//
// A workgroup owns a TM × TN block of C; thread (tx, ty) = (lid % COLS, lid / COLS) accumulates rows
// ty·RM … ty·RM + RM − 1 × channels tx + c·COLS (c < 4). Per K step, TK columns of A and B are staged as whole vec4s
// — As[k][q] holds rows 4q … 4q+3, Bs[k][t] channels t + c·COLS — by thread (kl, ql) = (lid % TK, lid / TK), which
// stages column kl of quads ql + j·QUADS_PER_PASS; one spare vec4 per k row puts consecutive k rows in different banks.

const THREADS = (TM / RM) * (TN / 4u);
const COLS = TN / 4u;
const QUADS_PER_PASS = THREADS / TK;
const A_QUADS = TM / 4u / QUADS_PER_PASS;
const B_QUADS = COLS / QUADS_PER_PASS;
const AW = TM / 4u + 1u;
const BW = COLS + 1u;

var<workgroup> As: array<vec4f, TK * AW>;
var<workgroup> Bs: array<vec4f, TK * BW>;

// Stages column k of weight rows first + n0 + t + c·COLS into Bs[kl]: zero past Cout, or for every row when
// !k_live (k past the reduction).
fn stage_weights(kl: u32, ql: u32, first: u32, n0: u32, k: u32, k_live: bool) {
  for (var j = 0u; j < B_QUADS; j++) {
    let t = ql + j * QUADS_PER_PASS;
    var b = vec4f(0.0);
    for (var c = 0u; c < 4u; c++) {
      let n = n0 + t + c * COLS;
      if (k_live && n < p.cout) { b[c] = weight(first + n, k, p.row); }
    }
    Bs[kl * BW + t] = b;
  }
}
