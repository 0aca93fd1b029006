// GroupNorm (+ per-(batch, channel) add, a channel window of [B, W], before the statistics, + SiLU after the affine) on channels-last x
// [B, S, C], groups of C/G consecutive channels: y = act((x + add − μ_bg) / √(σ²_bg + eps) · gamma + beta).
// One pass (SINGLE) where a group is small enough for one workgroup, otherwise three (STATS, FINALIZE, APPLY):
//   SINGLE    one workgroup per (batch, group): the group's moments, then the normalised values, from two reads of x.
//   STATS     one workgroup per (batch, group, chunk of spatial rows): Welford moments of its slice of the group,
//             merged across the workgroup with Chan's formula, written to partials[(b·G + g)·part_stride + part_base
//             + chunk]: a tensor held as row bands (engine/ops/group-norm.ts `groupNormBands`) runs one STATS
//             dispatch per band, each writing its chunks at its own base, and one FINALIZE over all of them.
//   FINALIZE  one workgroup per (batch, group): merges the chunks' moments, then writes per (batch, channel)
//             table = (μ − add, rstd · gamma, beta), so the apply pass needs one 16-byte load per element.
//   APPLY     elementwise: y = (x − t.x) · t.y + t.z, optionally SiLU, to a tensor or a channel slice.
// Moments are (count, mean, M2 = Σ(v − mean)²): merging them never subtracts two large sums, so groups with a
// large mean keep their variance (E[x²] − E[x]² would cancel away).

struct Params {
  batch: u32,
  spatial: u32,         // S = H·W (or tokens)
  channels: u32,        // C
  groups: u32,          // G
  group_channels: u32,  // C / G
  chunk_rows: u32,      // spatial rows per STATS workgroup
  chunks: u32,          // STATS workgroups per (batch, group)
  count: u32,           // B·S·C
  out_offset: u32,
  out_stride: u32,
  eps: f32,
  add_offset: u32,      // add's channel window: add[b · add_stride + add_offset + c]
  add_stride: u32,
  part_stride: u32,     // STATS: partials per (batch, group) in the buffer (= chunks unless banded)
  part_base: u32,       // STATS: where this dispatch's chunks start within each (batch, group)
}

struct Moments {
  n: f32,
  mean: f32,
  m2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

override WG: u32 = 256;  // a power of two (tree reduction)

#if STATS
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if ADD
@group(0) @binding(2) var<storage, read> add: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> partials: array<Moments>;
#elif FINALIZE
@group(0) @binding(1) var<storage, read> partials: array<Moments>;
#if ADD
@group(0) @binding(2) var<storage, read> add: array<f32>;
#endif
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> table: array<vec4f>;
#elif APPLY
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#elif SINGLE
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if ADD
@group(0) @binding(2) var<storage, read> add: array<f32>;
#endif
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
#endif

#if !APPLY
var<workgroup> sh: array<Moments, WG>;

// Chan et al.'s pairwise update.
fn merge(a: Moments, b: Moments) -> Moments {
  let n = a.n + b.n;
  if (n == 0.0) { return a; }
  let d = b.mean - a.mean;
  let w = b.n / n;
  return Moments(n, a.mean + d * w, a.m2 + b.m2 + d * d * a.n * w);
}

// Merge of every invocation's moments; all invocations must call it (it holds barriers).
fn workgroup_merge(m: Moments, lid: u32) -> Moments {
  sh[lid] = m;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { sh[lid] = merge(sh[lid], sh[lid + stride]); }
    workgroupBarrier();
  }
  return sh[0];
}
#endif

#if STATS
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = wid.x + wid.y * nwg.x;
  if (id >= p.batch * p.groups * p.chunks) { return; }
  let chunk = id % p.chunks;
  let bg = id / p.chunks;
  let g = bg % p.groups;
  let b = bg / p.groups;
  let row0 = chunk * p.chunk_rows;
  let len = min(p.chunk_rows, p.spatial - row0) * p.group_channels;
  let first = (b * p.spatial + row0) * p.channels + g * p.group_channels;
  // Consecutive invocations take consecutive channels of a row, then the next row: each row's run of C/G floats is
  // read by neighbouring invocations together.
  var m = Moments(0.0, 0.0, 0.0);
  for (var e = lid; e < len; e += WG) {
    let r = e / p.group_channels;
    let c = e - r * p.group_channels;
    var v = x[first + r * p.channels + c];
#if ADD
    v += add[b * p.add_stride + p.add_offset + g * p.group_channels + c];
#endif
    m.n += 1.0;
    let d = v - m.mean;
    m.mean += d / m.n;
    m.m2 += d * (v - m.mean);
  }
  let total = workgroup_merge(m, lid);
  if (lid == 0u) { partials[bg * p.part_stride + p.part_base + chunk] = total; }
}
#elif FINALIZE
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bg = wid.x + wid.y * nwg.x;
  if (bg >= p.batch * p.groups) { return; }
  var m = Moments(0.0, 0.0, 0.0);
  for (var k = lid; k < p.chunks; k += WG) { m = merge(m, partials[bg * p.chunks + k]); }
  let total = workgroup_merge(m, lid);
  let rstd = inverseSqrt(total.m2 / total.n + p.eps);
  let g = bg % p.groups;
  let b = bg / p.groups;
  for (var c = lid; c < p.group_channels; c += WG) {
    let ch = g * p.group_channels + c;
#if ADD
    let center = total.mean - add[b * p.add_stride + p.add_offset + ch];
#else
    let center = total.mean;
#endif
    table[b * p.channels + ch] = vec4f(center, rstd * gamma[ch], beta[ch], 0.0);
  }
}
#elif APPLY
const PER_THREAD: u32 = 4u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.x + wid.y * nwg.x) * WG * PER_THREAD + lid;
  for (var j = 0u; j < PER_THREAD; j++) {
    let i = base + j * WG;
    if (i >= p.count) { return; }
    let row = i / p.channels;
    let c = i - row * p.channels;
    let t = table[(row / p.spatial) * p.channels + c];
    var y = (x[i] - t.x) * t.y + t.z;
#if SILU
    y = silu(y);
#endif
    out[row * p.out_stride + p.out_offset + c] = y;
  }
}
#elif SINGLE
// Consecutive invocations take consecutive channels of a row, then the next row, in both passes (as STATS).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bg = wid.x + wid.y * nwg.x;
  if (bg >= p.batch * p.groups) { return; }
  let g = bg % p.groups;
  let b = bg / p.groups;
  let len = p.spatial * p.group_channels;
  let first = b * p.spatial * p.channels + g * p.group_channels;
  var m = Moments(0.0, 0.0, 0.0);
  for (var e = lid; e < len; e += WG) {
    let r = e / p.group_channels;
    let c = e - r * p.group_channels;
    var v = x[first + r * p.channels + c];
#if ADD
    v += add[b * p.add_stride + p.add_offset + g * p.group_channels + c];
#endif
    m.n += 1.0;
    let d = v - m.mean;
    m.mean += d / m.n;
    m.m2 += d * (v - m.mean);
  }
  let total = workgroup_merge(m, lid);
  let rstd = inverseSqrt(total.m2 / total.n + p.eps);
  for (var e = lid; e < len; e += WG) {
    let r = e / p.group_channels;
    let c = e - r * p.group_channels;
    let ch = g * p.group_channels + c;
    var v = x[first + r * p.channels + c];
#if ADD
    v += add[b * p.add_stride + p.add_offset + ch];
#endif
    var y = (v - total.mean) * rstd * gamma[ch] + beta[ch];
#if SILU
    y = silu(y);
#endif
    out[(b * p.spatial + r) * p.out_stride + p.out_offset + ch] = y;
  }
}
#endif
