// Fused multi-head attention with an online (flash-style) softmax: O = softmax(scale · Q Kᵀ) V per (batch, head).
//
// A workgroup owns ROWS query rows of one (batch, head). Its threads form KEY_SPLIT × ROW_GROUPS × SPLIT: thread
// (s, g, c) owns the rows g, g + ROW_GROUPS, ... (ROWS_PER_THREAD of them), vec4 slice c of the head dimension
// (SLICE4 vec4s) and every KEY_SPLIT-th key from s on; it keeps its rows' Q slice and output accumulator in
// registers. Keys and values stream through workgroup memory in blocks of KEYS: each thread writes the partial dot
// products of its slice, the SPLIT partials of a score meet in workgroup memory, and every thread folds its keys of
// the block into its rows' running max m, running sum l and accumulator (rescaled by exp2(m_old − m_new) once per
// block). At the end the KEY_SPLIT partial softmaxes of a row are merged the same way. Only the output is written.
//
// Splitting the keys multiplies the threads per row without more partial sums to exchange: a query chunk of a few
// hundred rows per (batch, head) must still fill a large GPU.
//
// The host prepends the tile as `const` declarations (HEAD_DIM, SLICE4, SPLIT, ROWS_PER_THREAD, ROW_GROUPS, KEYS,
// KEY_SPLIT): the register arrays need const-expression sizes, which override constants are not.
// Q is pre-multiplied by scale·log2(e), so the softmax runs on exp2.

const SLICE_DIMS = SLICE4 * 4u;
const HEAD4 = SLICE4 * SPLIT;            // vec4s per key row in workgroup memory (head dim padded with zeros)
const ROWS = ROWS_PER_THREAD * ROW_GROUPS;
const THREADS = KEY_SPLIT * ROW_GROUPS * SPLIT;
const REGS = ROWS_PER_THREAD * SLICE4;
// Finite stand-in for −∞: exp2(NEG_BIG − m) is 0 for every finite score, without inf − inf = NaN.
const NEG_BIG = -3.0e38;

struct Params {
  tq: u32,            // query rows per batch entry
  tk: u32,            // key rows per batch entry
  heads: u32,
  tiles: u32,         // workgroups along the query rows of this chunk
  q_start: u32,       // first query row of this chunk
  q_end: u32,         // one past its last
  q_stride: u32,      // row stride (channels) and first channel of each window
  q_offset: u32,
  k_stride: u32,
  k_offset: u32,
  v_stride: u32,
  v_offset: u32,
  o_stride: u32,
  o_offset: u32,
  scale: f32,         // softmax scale · log2(e)
  count: u32,         // workgroups in this dispatch (the grid may hold a few more)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Keys at [0, KEYS·HEAD4), values after them; while the key groups merge, one group's accumulators at
// [0, ROWS·HEAD4) and its (m, l, 0, 0) per row after them.
var<workgroup> kv: array<vec4f, max(2u * KEYS * HEAD4, select(0u, ROWS * (HEAD4 + 1u), KEY_SPLIT > 1u))>;
// partial[(j · ROWS + row) · SPLIT + c]: consecutive threads write consecutive words.
var<workgroup> partial: array<f32, KEYS * ROWS * SPLIT>;

// Where the values, and the merging group's (m, l) words, start in kv.
const V0 = KEYS * HEAD4;
const ML0 = ROWS * HEAD4;

// Four head-dim values of a row from `base`, zero past the head dim (padding of the last slice). One function per
// binding: pointers to storage cannot be passed without the unrestricted_pointer_parameters language feature.
fn load_q(base: u32, d: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) { if (d + e < HEAD_DIM) { r[e] = q[base + d + e]; } }
  return r;
}

fn load_k(base: u32, d: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) { if (d + e < HEAD_DIM) { r[e] = k[base + d + e]; } }
  return r;
}

fn load_v(base: u32, d: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) { if (d + e < HEAD_DIM) { r[e] = v[base + d + e]; } }
  return r;
}

// CAUSAL: query i sees keys 0…i only (the CLIP text encoder's mask). A group whose keys are all hidden from a row
// keeps m = NEG_BIG and l = 0, so it weighs nothing when the groups merge.
fn visible(key: u32, query: u32) -> bool {
  return !CAUSAL || key <= query;
}

fn score(j: u32, row: u32) -> f32 {
  var s = 0.0;
  for (var c = 0u; c < SPLIT; c++) { s += partial[(j * ROWS + row) * SPLIT + c]; }
  return s;
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let wg = wid.x + wid.y * nwg.x;
  if (wg >= p.count) { return; }
  let tile = wg % p.tiles;
  let bh = wg / p.tiles;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let c = lid % SPLIT;
  let g = (lid / SPLIT) % ROW_GROUPS;
  let ks = lid / (SPLIT * ROW_GROUPS);
  let row0 = p.q_start + tile * ROWS;
  let head = h * HEAD_DIM;
  let slice = c * SLICE_DIMS;

  // WGSL zero-initialises these: the accumulators, the sums, and the Q of rows past the chunk (which compute on
  // zeros and are not written).
  var qr: array<vec4f, REGS>;
  var acc: array<vec4f, REGS>;
  var m: array<f32, ROWS_PER_THREAD>;
  var l: array<f32, ROWS_PER_THREAD>;
  for (var r = 0u; r < ROWS_PER_THREAD; r++) {
    let t = row0 + r * ROW_GROUPS + g;
    m[r] = NEG_BIG;
    for (var i = 0u; i < SLICE4; i++) {
      if (t < p.q_end) { qr[r * SLICE4 + i] = load_q((b * p.tq + t) * p.q_stride + p.q_offset + head, slice + i * 4u) * p.scale; }
    }
  }

  for (var k0 = 0u; k0 < p.tk; k0 += KEYS) {
    let nk = min(KEYS, p.tk - k0);
    for (var e = lid; e < KEYS * HEAD4; e += THREADS) {
      let j = e / HEAD4;
      let d = (e % HEAD4) * 4u;
      if (j < nk) {
        let key = b * p.tk + k0 + j;
        kv[e] = load_k(key * p.k_stride + p.k_offset + head, d);
        kv[V0 + e] = load_v(key * p.v_stride + p.v_offset + head, d);
      }
    }
    workgroupBarrier();

    for (var j = ks; j < nk; j += KEY_SPLIT) {
      // Zeroed explicitly: on SwiftShader a loop-body `var` without initialiser kept the previous iteration's value.
      var s = array<f32, ROWS_PER_THREAD>();
      for (var i = 0u; i < SLICE4; i++) {
        let kk = kv[j * HEAD4 + c * SLICE4 + i];
        for (var r = 0u; r < ROWS_PER_THREAD; r++) { s[r] += dot(qr[r * SLICE4 + i], kk); }
      }
      for (var r = 0u; r < ROWS_PER_THREAD; r++) { partial[(j * ROWS + r * ROW_GROUPS + g) * SPLIT + c] = s[r]; }
    }
    workgroupBarrier();

    for (var r = 0u; r < ROWS_PER_THREAD; r++) {
      let row = r * ROW_GROUPS + g;
      var mb = m[r];
      for (var j = ks; j < nk; j += KEY_SPLIT) {
        if (visible(k0 + j, row0 + row)) { mb = max(mb, score(j, row)); }
      }
      let alpha = exp2(m[r] - mb);
      m[r] = mb;
      l[r] *= alpha;
      for (var i = 0u; i < SLICE4; i++) { acc[r * SLICE4 + i] *= alpha; }
    }
    for (var j = ks; j < nk; j += KEY_SPLIT) {
      var pj: array<f32, ROWS_PER_THREAD>;
      for (var r = 0u; r < ROWS_PER_THREAD; r++) {
        let row = r * ROW_GROUPS + g;
        pj[r] = select(0.0, exp2(score(j, row) - m[r]), visible(k0 + j, row0 + row));
        l[r] += pj[r];
      }
      for (var i = 0u; i < SLICE4; i++) {
        let vv = kv[V0 + j * HEAD4 + c * SLICE4 + i];
        for (var r = 0u; r < ROWS_PER_THREAD; r++) { acc[r * SLICE4 + i] += pj[r] * vv; }
      }
    }
    // The next block (or the merge) overwrites kv and partial.
    workgroupBarrier();
  }

  // Key group 0 absorbs the others one by one: m = max(m0, ms), and each side's l and acc scale by exp2(its m − m).
  for (var other_group = 1u; other_group < KEY_SPLIT; other_group++) {
    if (ks == other_group) {
      for (var r = 0u; r < ROWS_PER_THREAD; r++) {
        let row = r * ROW_GROUPS + g;
        if (c == 0u) { kv[ML0 + row] = vec4f(m[r], l[r], 0.0, 0.0); }
        for (var i = 0u; i < SLICE4; i++) { kv[row * HEAD4 + c * SLICE4 + i] = acc[r * SLICE4 + i]; }
      }
    }
    workgroupBarrier();
    if (ks == 0u) {
      for (var r = 0u; r < ROWS_PER_THREAD; r++) {
        let row = r * ROW_GROUPS + g;
        let other = kv[ML0 + row];
        let mn = max(m[r], other.x);
        let a = exp2(m[r] - mn);
        let bo = exp2(other.x - mn);
        m[r] = mn;
        l[r] = l[r] * a + other.y * bo;
        for (var i = 0u; i < SLICE4; i++) { acc[r * SLICE4 + i] = acc[r * SLICE4 + i] * a + kv[row * HEAD4 + c * SLICE4 + i] * bo; }
      }
    }
    workgroupBarrier();
  }
  if (ks != 0u) { return; }

  for (var r = 0u; r < ROWS_PER_THREAD; r++) {
    let t = row0 + r * ROW_GROUPS + g;
    if (t >= p.q_end) { continue; }
    let base = (b * p.tq + t) * p.o_stride + p.o_offset + head;
    let inv = 1.0 / l[r];
    for (var i = 0u; i < SLICE4; i++) {
      let o = acc[r * SLICE4 + i] * inv;
      for (var e = 0u; e < 4u; e++) {
        let d = slice + i * 4u + e;
        if (d < HEAD_DIM) { out[base + d] = o[e]; }
      }
    }
  }
}
