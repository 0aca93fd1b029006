// Direct 3×3 convolution (stride 1 or 2, optional fused nearest 2× upsampling) as an implicit GEMM:
// C[M, N] = A[M, K] · B[N, K]ᵀ with M = B·Ho·Wo output pixels, N = Cout, K = 9·Cin, k = (ky·3 + kx)·Cin + ci.
// A is never built: its tile is gathered from the NHWC input (zero outside the image), B is the weight matrix,
// dequantised from its storage format (shaders/weights.wgsl, prepended with binding 1 and 2) as it is staged.
// Output pixel (oy, ox) reads the window whose top-left pixel is (oy·s − pad, ox·s − pad): pad = 1 pads every side,
// pad = 0 only the bottom and right (whatever lies past the image reads as zero).
//
// The op prepends the tile (ConvTile in engine/ops/conv2d.ts): `const TM, TN, TK, RM: u32`, the register block
// spelled out as `accumulate` and `store_block`, and the staging of B (shaders/conv2d-tile.wgsl).
// A workgroup owns a TM × TN block of C; thread (tx, ty) accumulates rows ty·RM … ty·RM + RM − 1 × channels
// tx + c·TN/4 (c < 4), so neighbouring threads write neighbouring channels. Per K step, TK columns of A and B are
// staged in workgroup memory as whole vec4s — As[k][q] holds rows 4q … 4q+3, Bs[k][t] channels t + c·TN/4 — so the
// inner loop reads RM/4 + 1 vec4s per TK step for 4·RM multiply-adds. Each vec4 is stored whole by one thread: a
// store to one lane of a shared vec4 can compile to a read-modify-write of all four and race with the threads
// storing the other lanes.
//
// Staging loads run along k: consecutive threads read consecutive input channels of one pixel (contiguous in
// NHWC) and consecutive weights of one row. A thread always stages the same k column (lid % TK) of the same rows,
// so their pixel coordinates are computed once, before the K loop.

struct Params {
  h: u32,           // input height and width as stored (before upsampling)
  w: u32,
  cin: u32,
  k: u32,           // 9·cin
  ho: u32,
  wo: u32,
  cout: u32,
  row: u32,         // words per weight row
  m: u32,           // B·Ho·Wo
  m_tiles: u32,
  stride: u32,
  up: u32,          // 1: the conv sees x upsampled (coordinates shifted right by one to reach x)
  pad: u32,         // padding above and left of the image
  out_stride: u32,  // channels per pixel of the output tensor (wider than cout for a channel slice)
  out_offset: u32,
  skip_stride: u32, // the same for the second copy of the result (SKIP)
  skip_offset: u32,
  hv: u32,          // the input's height and width as the conv sees it: h, w, or upsampled 2h (or 2h − 1), …
  wv: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif
#if RESIDUAL
@group(0) @binding(5) var<storage, read> residual: array<f32>;
#endif
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
#if SKIP
@group(0) @binding(7) var<storage, read_write> skip: array<f32>;
#endif

// Per staged row: first pixel of its image in x, window origin in the (virtual) input, and whether it is < M.
var<private> image: array<u32, A_QUADS * 4u>;
var<private> y0: array<i32, A_QUADS * 4u>;
var<private> x0: array<i32, A_QUADS * 4u>;
var<private> live: array<bool, A_QUADS * 4u>;

// A[row i of this thread's staged rows, k] with k = (ky·3 + kx)·Cin + ci. The load is unconditional (clamped into
// the image; no divergent branch) and padding is selected away.
fn load_a(i: u32, ky: i32, kx: i32, ci: u32) -> f32 {
  let vy = y0[i] + ky;
  let vx = x0[i] + kx;
  let inside = live[i] && vy >= 0 && vy < i32(p.hv) && vx >= 0 && vx < i32(p.wv);
  let pixel = image[i] + (u32(clamp(vy, 0, i32(p.hv) - 1)) >> p.up) * p.w + (u32(clamp(vx, 0, i32(p.wv) - 1)) >> p.up);
  return select(0.0, x[pixel * p.cin + ci], inside);
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let mt = wid.x + wid.y * nwg.x;
  if (mt >= p.m_tiles) { return; }
  let m0 = mt * TM;
  let n0 = wid.z * TN;
  let kl = lid % TK;
  let ql = lid / TK;

  let pixels = p.ho * p.wo;
  for (var i = 0u; i < A_QUADS * 4u; i++) {
    let m = m0 + (ql + (i / 4u) * QUADS_PER_PASS) * 4u + i % 4u;
    let r = m % pixels;
    image[i] = (m / pixels) * p.h * p.w;
    y0[i] = i32((r / p.wo) * p.stride) - i32(p.pad);
    x0[i] = i32((r % p.wo) * p.stride) - i32(p.pad);
    live[i] = m < p.m;
  }

  var acc: array<vec4f, RM>;
  let tx = lid % COLS;
  let ty = lid / COLS;

  for (var k0 = 0u; k0 < p.k; k0 += TK) {
    let k = k0 + kl;
    let tap = k / p.cin;
    let ci = k - tap * p.cin;
    let ky = i32(tap / 3u);
    let kx = i32(tap % 3u);
    let k_live = k < p.k;
    for (var j = 0u; j < A_QUADS; j++) {
      var v = vec4f(0.0);
      if (k_live) {
        v = vec4f(load_a(4u * j, ky, kx, ci), load_a(4u * j + 1u, ky, kx, ci), load_a(4u * j + 2u, ky, kx, ci), load_a(4u * j + 3u, ky, kx, ci));
      }
      As[kl * AW + ql + j * QUADS_PER_PASS] = v;
    }
    stage_weights(kl, ql, 0u, n0, k, k_live);
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      accumulate(&acc, kk * AW + ty * (RM / 4u), Bs[kk * BW + tx]);
    }
    workgroupBarrier();
  }
  store_block(&acc, m0 + ty * RM, n0 + tx);
}

// One accumulator row: output pixel m, channels n + c·COLS.
fn store_row(m: u32, n: u32, row: vec4f) {
  if (m >= p.m) { return; }
  for (var c = 0u; c < 4u; c++) {
    let nc = n + c * COLS;
    if (nc < p.cout) {
      var v = row[c];
#if BIAS
      v += bias[nc];
#endif
#if RESIDUAL
      v += residual[m * p.cout + nc];
#endif
      out[m * p.out_stride + p.out_offset + nc] = v;
#if SKIP
      skip[m * p.skip_stride + p.skip_offset + nc] = v;
#endif
    }
  }
}
