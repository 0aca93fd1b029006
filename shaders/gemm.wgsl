// Register-blocked tiled GEMM with a fused epilogue:
//
//   out[r, n] = act(alpha · Σ_k A[r, k] · B[n, k] + bias[n]) + residual[r, n]
//
// A is f32 with K contiguous ([rows, K]); B is a weight [N, K] in any storage format (dequantised while its tile is
// loaded), an f32 [batch, N, K], or (B_KN) an f32 [batch, K, N]. One workgroup computes a TILE_M × TILE_N block of
// one batch; each thread owns WPT_M × WPT_N outputs, strided by the thread grid so that neighbouring threads write
// neighbouring columns (coalesced stores) and read neighbouring tile rows (different banks).
//
// Both tiles live in workgroup memory as vec4 chunks along K (4 consecutive k), so the inner loop is one vec4 read per
// owned row and column and a dot product per output: WPT_M + WPT_N reads for 4·WPT_M·WPT_N multiply-adds. Rows are
// padded by one chunk so threads reading consecutive rows fall into different banks. Values outside M, N or K are
// loaded as zeros, which makes partial tiles exact without bounds checks in the inner loop. The next K step's tiles
// are fetched into registers before the current step's arithmetic, so global-memory latency hides behind it (on an
// H200 this gained 5–25 %); B_KN's loads gather 4 rows per vec4 and are not prefetched.
//
// gemm.ts prepends the tile constants (TILE_M, TILE_N, TILE_K, WPT_M, WPT_N, VEC_B) and selects the variant with
// defines: A_VEC4 / A_VEC2 (vector loads of A); the kind of B: f32 [N, K] by default, B_F16, B_INT8 or B_INT4 (each
// quantised one with B_SCALED), or B_KN; B_VEC4 / B_VEC2 (vector loads of the f32 [N, K] kind; for f16, two words per load);
// the epilogue: BIAS, one of GELU / QUICK_GELU / SILU, and RESIDUAL (its own binding) or RESIDUAL_IN_OUT (the output
// already holds the residual). A_GEGLU (with A_VEC4): A is the GEGLU of a [rows, 2K] tensor, computed as it is
// loaded (the transformer's feed-forward: no [rows, K] intermediate, no separate dispatch). A_LAYERNORM (with
// A_VEC4): A is LayerNorm(A) · gamma + beta over K, with each row's statistics computed by the workgroup before
// its K loop (the transformer's norm1/2/3 before their projections: no normalised copy, no separate dispatch).

struct Params {
  m: u32,          // rows per batch
  n: u32,
  k: u32,
  b_row: u32,      // words per weight row (packed formats), K (f32 [N, K]) or N (B_KN)
  tiles_m: u32,    // row tiles per batch
  tiles: u32,      // row tiles × batches
  out_offset: u32, // first channel written in the output rows
  out_stride: u32, // channels per output row
  alpha: f32,
  skip_offset: u32, // SKIP: first channel and channels per row of the second output
  skip_stride: u32,
  ln_eps: f32,      // A_LAYERNORM: added to each row's variance
}

@group(0) @binding(0) var<uniform> p: Params;
#if A_VEC4
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
#elif A_VEC2
@group(0) @binding(1) var<storage, read> a: array<vec2f>;
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
#endif
#if B_F16
#if B_VEC2
@group(0) @binding(2) var<storage, read> b: array<vec2u>;
#else
@group(0) @binding(2) var<storage, read> b: array<u32>;
#endif
#elif B_SCALED
@group(0) @binding(2) var<storage, read> b: array<u32>;
#elif B_VEC4
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
#elif B_VEC2
@group(0) @binding(2) var<storage, read> b: array<vec2f>;
#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
#endif
#if B_SCALED
@group(0) @binding(3) var<storage, read> b_scales: array<u32>;
#endif
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif
#if RESIDUAL
@group(0) @binding(5) var<storage, read> residual: array<f32>;
#endif
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
#if SKIP
@group(0) @binding(7) var<storage, read_write> skip_out: array<f32>;
#endif
#if A_LAYERNORM
@group(0) @binding(8) var<storage, read> ln_gamma: array<vec4f>;
@group(0) @binding(9) var<storage, read> ln_beta: array<vec4f>;
#endif

const THREADS_M = TILE_M / WPT_M;
const THREADS_N = TILE_N / WPT_N;
const WG = THREADS_M * THREADS_N;
const TK4 = TILE_K / 4u;
const STRIDE = TK4 + 1u;

var<workgroup> a_tile: array<vec4f, TILE_M * STRIDE>;
var<workgroup> b_tile: array<vec4f, TILE_N * STRIDE>;
#if A_LAYERNORM
// Mean and rstd of the tile's rows, computed before the K loop.
var<workgroup> row_stats: array<vec2f, TILE_M>;

// Two passes over the row (mean, then the centred sum of squares), as engine/ops/layer-norm.ts.
fn layer_norm_stats(row: u32, k_chunks: u32) -> vec2f {
  let base = row * k_chunks;
  var s = vec4f(0.0);
  for (var c = 0u; c < k_chunks; c++) { s += a[base + c]; }
  let mean = (s.x + s.y + s.z + s.w) / f32(p.k);
  var q = vec4f(0.0);
  for (var c = 0u; c < k_chunks; c++) {
    let d = a[base + c] - mean;
    q += d * d;
  }
  return vec2f(mean, inverseSqrt((q.x + q.y + q.z + q.w) / f32(p.k) + p.ln_eps));
}
#endif

// Chunk c (k = 4c .. 4c+3) of A's row `row`; the caller has checked 4c < K.
fn load_a(row: u32, c: u32) -> vec4f {
#if A_GEGLU
  // A is GEGLU of a [rows, 2K] tensor (K a multiple of 4): hidden · gelu(gate), gate K channels after hidden.
  let i = row * (p.k >> 1u) + c;
  let h = a[i];
  let g = a[i + (p.k >> 2u)];
  return h * vec4f(gelu(g.x), gelu(g.y), gelu(g.z), gelu(g.w));
#elif A_VEC4
  return a[row * (p.k >> 2u) + c];
#elif A_VEC2
  let i = row * (p.k >> 1u) + c * 2u;
  var hi = vec2f(0.0);
  if (c * 4u + 2u < p.k) { hi = a[i + 1u]; }
  return vec4f(a[i], hi);
#else
  let k = c * 4u;
  let i = row * p.k + k;
  var v = vec4f(a[i], 0.0, 0.0, 0.0);
  if (k + 1u < p.k) { v.y = a[i + 1u]; }
  if (k + 2u < p.k) { v.z = a[i + 2u]; }
  if (k + 3u < p.k) { v.w = a[i + 3u]; }
  return v;
#endif
}

#if B_SCALED
// Scales are f16, two per word (int8: one per row, int4: one per block of 32).
fn b_scale(i: u32) -> f32 {
  return unpack2x16float(b_scales[i >> 1u])[i & 1u];
}
#endif

#if !B_KN
// Chunk c of B's row `row` (an output channel, counted across batches), dequantised; the caller has checked 4c < K.
// Packed rows are zero-padded to whole words (engine/quant/pack.ts), so only f16 can need a word past the row end.
fn load_b(row: u32, c: u32) -> vec4f {
#if B_F16
#if B_VEC2
  let w = b[row * (p.b_row >> 1u) + c];
  return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));
#else
  let i = row * p.b_row + c * 2u;
  var hi = 0u;
  if (c * 2u + 1u < p.b_row) { hi = b[i + 1u]; }
  return vec4f(unpack2x16float(b[i]), unpack2x16float(hi));
#endif
#elif B_INT8
  let w = bitcast<i32>(b[row * p.b_row + c]);
  let q = (vec4i(w) << vec4u(24u, 16u, 8u, 0u)) >> vec4u(24u);
  return vec4f(q) * b_scale(row);
#elif B_INT4
  // Eight nibbles per word: this chunk is the low or high half; a scale covers 32 values (8 chunks), and a row
  // holds b_row / 4 blocks.
  let w = bitcast<i32>(b[row * p.b_row + (c >> 1u)] >> ((c & 1u) * 16u));
  let q = (vec4i(w) << vec4u(28u, 24u, 20u, 16u)) >> vec4u(28u);
  return vec4f(q) * b_scale(row * (p.b_row >> 2u) + (c >> 3u));
#elif B_VEC4
  return b[row * (p.k >> 2u) + c];
#elif B_VEC2
  let i = row * (p.k >> 1u) + c * 2u;
  var hi = vec2f(0.0);
  if (c * 4u + 2u < p.k) { hi = b[i + 1u]; }
  return vec4f(b[i], hi);
#else
  let k = c * 4u;
  let i = row * p.k + k;
  var v = vec4f(b[i], 0.0, 0.0, 0.0);
  if (k + 1u < p.k) { v.y = b[i + 1u]; }
  if (k + 2u < p.k) { v.z = b[i + 2u]; }
  if (k + 3u < p.k) { v.w = b[i + 3u]; }
  return v;
#endif
}
#endif

// Chunks of a tile each thread loads: chunk lid + s·WG for s < A_LOADS (B_LOADS), rows of TK4 chunks.
const A_LOADS = (TILE_M * TK4 + WG - 1u) / WG;
const B_LOADS = (TILE_N * TK4 + WG - 1u) / WG;

// This thread's chunks of the A tile at chunk column kc0: rows row0 .. row0 + TILE_M, zero past `rows` or K.
fn fetch_a(lid: u32, row0: u32, rows: u32, kc0: u32, k_chunks: u32) -> array<vec4f, A_LOADS> {
  var regs: array<vec4f, A_LOADS>;
  for (var s = 0u; s < A_LOADS; s++) {
    let i = lid + s * WG;
    let r = i / TK4;
    let c = kc0 + i % TK4;
#if A_LAYERNORM
    if (i < TILE_M * TK4 && r < rows && c < k_chunks) {
      let st = row_stats[r];
      regs[s] = (load_a(row0 + r, c) - st.x) * st.y * ln_gamma[c] + ln_beta[c];
    }
#else
    if (i < TILE_M * TK4 && r < rows && c < k_chunks) { regs[s] = load_a(row0 + r, c); }
#endif
  }
  return regs;
}

fn store_a(lid: u32, regs: array<vec4f, A_LOADS>) {
  for (var s = 0u; s < A_LOADS; s++) {
    let i = lid + s * WG;
    if (i < TILE_M * TK4) { a_tile[(i / TK4) * STRIDE + i % TK4] = regs[s]; }
  }
}

#if !B_KN
fn fetch_b(lid: u32, row0: u32, rows: u32, kc0: u32, k_chunks: u32) -> array<vec4f, B_LOADS> {
  var regs: array<vec4f, B_LOADS>;
  for (var s = 0u; s < B_LOADS; s++) {
    let i = lid + s * WG;
    let r = i / TK4;
    let c = kc0 + i % TK4;
    if (i < TILE_N * TK4 && r < rows && c < k_chunks) { regs[s] = load_b(row0 + r, c); }
  }
  return regs;
}

fn store_b(lid: u32, regs: array<vec4f, B_LOADS>) {
  for (var s = 0u; s < B_LOADS; s++) {
    let i = lid + s * WG;
    if (i < TILE_N * TK4) { b_tile[(i / TK4) * STRIDE + i % TK4] = regs[s]; }
  }
}
#endif

fn epilogue(acc: f32, row: u32, n: u32, idx: u32) -> f32 {
  var y = acc * p.alpha;
#if BIAS
  y += bias[n];
#endif
// Activations come from shaders/activations.wgsl, which the op prepends when the epilogue has one.
#if GELU
  y = gelu(y);
#elif QUICK_GELU
  y = quick_gelu(y);
#elif SILU
  y = silu(y);
#endif
#if RESIDUAL
  y += residual[row * p.n + n];
#elif RESIDUAL_IN_OUT
  y += out[idx];
#endif
  return y;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y + wid.z * nwg.y;
  if (t >= p.tiles) { return; }
  let batch = t / p.tiles_m;
  let m0 = (t % p.tiles_m) * TILE_M;
  let n0 = wid.x * TILE_N;
  let tx = lid % THREADS_N;
  let ty = lid / THREADS_N;
  let k_chunks = (p.k + 3u) / 4u;
  var acc: array<f32, WPT_M * WPT_N>;

#if A_LAYERNORM
  for (var r = lid; r < TILE_M; r += WG) {
    var st = vec2f(0.0, 1.0);
    if (m0 + r < p.m) { st = layer_norm_stats(batch * p.m + m0 + r, k_chunks); }
    row_stats[r] = st;
  }
  workgroupBarrier();
#endif
  // The next step's global loads are issued before this step's arithmetic, so their latency hides behind it.
  var ra = fetch_a(lid, batch * p.m + m0, p.m - m0, 0u, k_chunks);
#if !B_KN
  var rb = fetch_b(lid, batch * p.n + n0, p.n - n0, 0u, k_chunks);
#endif
  for (var kc0 = 0u; kc0 < k_chunks; kc0 += TK4) {
    store_a(lid, ra);
#if B_KN
    // B is [K, N]: consecutive threads take consecutive columns n (coalesced loads along each row k) and each
    // gathers the 4 values of its K chunk, so every thread writes whole vec4s of the tile: threads writing single
    // lanes of one workgroup vec4 race on some GPUs.
    for (var i = lid; i < TILE_N * TK4; i += WG) {
      let nr = i % TILE_N;
      let kq = i / TILE_N;
      let n = n0 + nr;
      var v = vec4f(0.0);
      for (var u = 0u; u < 4u; u++) {
        let k = (kc0 + kq) * 4u + u;
        if (k < p.k && n < p.n) { v[u] = b[(batch * p.k + k) * p.n + n]; }
      }
      b_tile[nr * STRIDE + kq] = v;
    }
#else
    store_b(lid, rb);
#endif
    workgroupBarrier();
    if (kc0 + TK4 < k_chunks) {
      ra = fetch_a(lid, batch * p.m + m0, p.m - m0, kc0 + TK4, k_chunks);
#if !B_KN
      rb = fetch_b(lid, batch * p.n + n0, p.n - n0, kc0 + TK4, k_chunks);
#endif
    }

    for (var c = 0u; c < TK4; c++) {
      var av: array<vec4f, WPT_M>;
      var bv: array<vec4f, WPT_N>;
      for (var i = 0u; i < WPT_M; i++) { av[i] = a_tile[(ty + i * THREADS_M) * STRIDE + c]; }
      for (var j = 0u; j < WPT_N; j++) { bv[j] = b_tile[(tx + j * THREADS_N) * STRIDE + c]; }
      for (var i = 0u; i < WPT_M; i++) {
        for (var j = 0u; j < WPT_N; j++) {
          acc[i * WPT_N + j] += dot(av[i], bv[j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < WPT_M; i++) {
    let m = m0 + ty + i * THREADS_M;
    if (m >= p.m) { break; }
    let row = batch * p.m + m;
    for (var j = 0u; j < WPT_N; j++) {
      let n = n0 + tx + j * THREADS_N;
      if (n >= p.n) { break; }
      let idx = row * p.out_stride + p.out_offset + n;
      let y = epilogue(acc[i * WPT_N + j], row, n, idx);
      out[idx] = y;
#if SKIP
      skip_out[row * p.skip_stride + p.skip_offset + n] = y;
#endif
    }
  }
}
