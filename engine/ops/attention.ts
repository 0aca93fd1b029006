/**
 * Fused multi-head attention: diffusers' `Attention` with the default processor, from the projected Q, K and V to
 * the input of the out-projection, in one kernel.
 *
 *   O[b, t, h·D + d] = Σ_j softmax_j(scale · Σ_e Q[b, t, h·D + e] · K[b, j, h·D + e]) · V[b, j, h·D + d]
 *
 * with D = channels / heads and scale = 1/√D unless given.
 *
 * Layout: Q, K and V come straight from the projection GEMMs as channel windows of f32 [B, T, Ctotal] tensors (a
 * `ChannelSlice`: first channel `offset`, row stride Ctotal; a plain tensor is the window at 0). Self-attention reads
 * one fused [B, T, 3C] projection (Q at 0, K at C, V at 2C); cross-attention reads Q from [B, Tq, C] and K, V from
 * the fused [B, 77, 2C] text projection (K at 0, V at C). K and V have Tk rows, which may differ from Tq, and the
 * same batch B as Q. The window width C is `channels`, by default the narrowest window (V of a fused projection, or
 * the whole Q tensor of cross-attention). The output is [B, Tq, C] with head h at channels [h·D, (h+1)·D), or a
 * channel slice of a wider tensor.
 *
 * Algorithm (see shaders/attention.wgsl): a workgroup owns `tile.rows` query rows of one (batch, head) and streams
 * K/V through workgroup memory in blocks of `tile.keys`, with an online softmax (running max, running sum, rescaled
 * accumulator), so the Tq × Tk score matrix is never stored. Each thread keeps the Q slice and output accumulator of
 * `tile.rowsPerThread` rows × `tile.dimsPerThread` head dims in registers; the threads sharing a row's head dims add
 * their partial dot products in workgroup memory, and `tile.keySplit` groups of threads share out each key block
 * with a softmax state each, merged at the end. `defaultAttentionTile` picks the tile unless one is given.
 *
 * Chunking: the query rows are dispatched in chunks whose score matrix (chunk · Tk · heads · B · 4 bytes, never
 * materialised) stays within `budgetBytes`, which bounds the time of one dispatch so long attentions (SD 1.5's 4096
 * tokens: 8 chunks of 512 at the default budget) do not trip GPU watchdogs. Rows are independent, so chunking does
 * not change any result bit.
 *
 * Precision: f32 loads, dot products, softmax statistics and accumulation. Q is pre-multiplied by scale·log2(e) and
 * the softmax uses exp2 of (score − running max) ≤ 0, so large scores cannot overflow; measured against a float64
 * reference the error is ~1e-7 of the output's magnitude at unit-scale inputs and ~1e-5 with scores of ~1e3.
 */
import source from '../../shaders/attention.wgsl?raw';
import type { AdapterSummary } from '../gpu/device';
import { resolveOutput, uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { isChannelSlice, shapeString, type ChannelSlice, type Output, type Tensor } from '../gpu/tensor';
import { isCpuAdapter } from './gemm';

export { DEFAULT_ATTENTION_BUDGET } from '../gpu/context';

/** What every WebGPU adapter offers (workgroup memory, threads per workgroup); default tiles keep to 256 threads. */
const BASELINE_WORKGROUP_BYTES = 16384;
const BASELINE_THREADS = 256;
const MAX_DEFAULT_KEYS = 32;
const MIN_DEFAULT_KEYS = 8;

/** Q, K or V: a whole [B, T, C] tensor or a channel window of a wider one. */
export type AttentionInput = Tensor | ChannelSlice;

/**
 * The kernel's tiling, part of the pipeline variant. Threads per workgroup = keySplit · (rows / rowsPerThread) ·
 * slices, with slices = ceil(headDim / dimsPerThread); workgroup memory ≈ 4 · (max(2 · keys · paddedHeadDim,
 * rows · (paddedHeadDim + 4) when keySplit > 1) + keys · rows · slices) bytes.
 */
export interface AttentionTile {
  /** Query rows per workgroup; a multiple of `rowsPerThread`. */
  rows: number;
  /** Keys per block staged in workgroup memory. */
  keys: number;
  /** Query rows each thread owns: every K/V value read from workgroup memory serves this many rows. */
  rowsPerThread: number;
  /** Head-dim values each thread owns, a multiple of 4; the threads of one row split the head dim this way. */
  dimsPerThread: number;
  /**
   * Thread groups that share out the keys of each block (each with its own running softmax, merged at the end):
   * more threads per row without more partial sums to exchange.
   */
  keySplit: number;
}

export interface AttentionArgs {
  q: AttentionInput;
  k: AttentionInput;
  v: AttentionInput;
  heads: number;
  /** Channels of each window (heads · headDim); default: the narrowest of the three windows. */
  channels?: number;
  /** Softmax scale; default 1/√headDim. */
  scale?: number;
  out?: Output;
  /** Per-dispatch budget in bytes of the score matrix a query chunk stands for; default the context's setting. */
  budgetBytes?: number;
  tile?: AttentionTile;
  /** Query i attends to keys 0…i only (the CLIP text encoder's causal mask); needs as many keys as queries. */
  causal?: boolean;
}

/** Device limits a tile must respect. */
export interface AttentionLimits {
  workgroupBytes: number;
  threads: number;
}

const BASELINE_LIMITS: AttentionLimits = { workgroupBytes: BASELINE_WORKGROUP_BYTES, threads: BASELINE_THREADS };

/** A tile worked out for one head dim: what the shader's const header and the dispatch need. */
interface Layout {
  slice4: number;
  split: number;
  rowGroups: number;
  threads: number;
  bytes: number;
}

function layoutOf(headDim: number, tile: AttentionTile): Layout {
  const slice4 = tile.dimsPerThread / 4;
  const split = Math.ceil(Math.ceil(headDim / 4) / slice4);
  const head4 = split * slice4;
  const rowGroups = tile.rows / tile.rowsPerThread;
  // K/V staging, reused for the key groups' merge; the partial dot products (Dawn rounds each variable to 16 bytes).
  const staging = Math.max(2 * tile.keys * head4, tile.keySplit > 1 ? tile.rows * (head4 + 1) : 0) * 16;
  const bytes = staging + Math.ceil((tile.keys * tile.rows * split) / 4) * 16;
  return { slice4, split, rowGroups, threads: tile.keySplit * rowGroups * split, bytes };
}

function checkTile(headDim: number, tile: AttentionTile, limits: AttentionLimits): Layout {
  const { rows, keys, rowsPerThread, dimsPerThread, keySplit } = tile;
  const positive = [rows, keys, rowsPerThread, dimsPerThread, keySplit].every((x) => Number.isInteger(x) && x > 0);
  if (!positive || rows % rowsPerThread !== 0 || dimsPerThread % 4 !== 0) {
    throw new ShapeError(
      `attention: tile ${JSON.stringify(tile)} needs positive integers, rows a multiple of rowsPerThread and dimsPerThread a multiple of 4`,
    );
  }
  const layout = layoutOf(headDim, tile);
  if (layout.threads > limits.threads || layout.bytes > limits.workgroupBytes) {
    throw new ShapeError(
      `attention: tile ${JSON.stringify(tile)} for head dim ${headDim} needs ${layout.threads} threads and ${layout.bytes} bytes of ` +
        `workgroup memory; this device allows ${limits.threads} and ${limits.workgroupBytes}. Use defaultAttentionTile().`,
    );
  }
  return layout;
}

/**
 * The default tile for a head dim and key count, from sweeps of `attentionTileCandidates` over SD shapes (H200,
 * Vulkan; see the op's report): one row per thread; up to 40 head dims per thread (one thread per row up to D = 40,
 * two at 64 and 80, four at 160); for more than 1024 keys, four key groups over 32 rows (a query chunk of SD 1.5's
 * 4096-token self-attention has only 512 rows per (batch, head), and the key groups give each row four times the
 * threads: 4.8 ms instead of 7.4 ms for the best tile without), otherwise one group over 64 rows; rows halved until
 * a workgroup has at most 256 threads; and as many keys per block, up to 32, as the workgroup memory holds (fewer
 * rows where it does not hold 8).
 */
export function defaultAttentionTile(headDim: number, limits: AttentionLimits = BASELINE_LIMITS, keyCount = 1): AttentionTile {
  const head4 = Math.ceil(headDim / 4);
  const split = Math.ceil(head4 / 10);
  const slice4 = Math.ceil(head4 / split);
  const keySplit = keyCount > 1024 ? 4 : 1;
  const tile = { rows: keySplit > 1 ? 32 : 64, keys: MAX_DEFAULT_KEYS, rowsPerThread: 1, dimsPerThread: slice4 * 4, keySplit };
  while (tile.rows > 1 && keySplit * tile.rows * split > Math.min(BASELINE_THREADS, limits.threads)) tile.rows /= 2;
  const keysThatFit = (rows: number) => {
    let keys = MAX_DEFAULT_KEYS;
    while (keys > 1 && layoutOf(headDim, { ...tile, rows, keys }).bytes > limits.workgroupBytes) keys--;
    return keys;
  };
  let rows = tile.rows;
  while (rows > 4 && keysThatFit(rows) < MIN_DEFAULT_KEYS) rows /= 2;
  if (keysThatFit(rows) >= MIN_DEFAULT_KEYS) tile.rows = rows;
  tile.keys = keysThatFit(tile.rows);
  checkTile(headDim, tile, limits);
  return tile;
}

/** The tile attention runs untuned on `adapter`. */
export function untunedAttentionTile(adapter: AdapterSummary, headDim: number, limits: AttentionLimits, keyCount: number): AttentionTile {
  return isCpuAdapter(adapter) ? cpuAttentionTile(headDim, limits) : defaultAttentionTile(headDim, limits, keyCount);
}

/**
 * The untuned tile on adapters that run WebGPU on the CPU (`isCpuAdapter`): four query rows per thread, so each key
 * and value read from workgroup memory serves four rows, and one key group (a CPU has no idle threads to fill). On
 * SwiftShader this ran bench-unet's self-attention (1024 and 256 tokens, head dim 32, batch 2) 2–2.9× faster than
 * `defaultAttentionTile`. Falls back to that where it does not fit `limits`.
 */
export function cpuAttentionTile(headDim: number, limits: AttentionLimits = BASELINE_LIMITS): AttentionTile {
  const fallback = defaultAttentionTile(headDim, limits);
  const tile = { ...fallback, rows: 64, rowsPerThread: 4, keys: MAX_DEFAULT_KEYS, keySplit: 1 };
  try {
    checkTile(headDim, tile, limits);
    return tile;
  } catch {
    return fallback;
  }
}

/**
 * Tiles worth timing for a head dim (for an auto-tuner): slices of 8 to 40 head dims, 1 or 2 rows per thread, 8 to 64
 * row groups, key blocks of 8 to 64 shared by 1 to 8 key groups, 32 threads or more, within the limits.
 */
export function attentionTileCandidates(headDim: number, limits: AttentionLimits = BASELINE_LIMITS): AttentionTile[] {
  const head4 = Math.ceil(headDim / 4);
  const slices = new Set<number>();
  for (let split = 1; split <= head4; split++) slices.add(Math.ceil(head4 / split));
  const out: AttentionTile[] = [];
  for (const slice4 of [...slices].filter((s) => s >= Math.min(2, head4) && s <= 10)) {
    for (const rowsPerThread of [1, 2]) {
      for (const rowGroups of [8, 16, 32, 64]) {
        for (const keys of [8, 16, 32, 64]) {
          for (const keySplit of [1, 2, 4, 8]) {
            const tile = { rows: rowGroups * rowsPerThread, keys, rowsPerThread, dimsPerThread: slice4 * 4, keySplit };
            const layout = layoutOf(headDim, tile);
            if (layout.threads >= 32 && layout.threads <= limits.threads && layout.bytes <= limits.workgroupBytes) out.push(tile);
          }
        }
      }
    }
  }
  return out;
}

/**
 * How the query rows are split so one dispatch stands for at most `budgetBytes` of scores (chunk · Tk · heads ·
 * batch · 4): at least one row per chunk; a chunk below Tq is rounded down to a multiple of `align` (the workgroup's
 * query rows) when it holds at least that many, so no workgroup straddles two chunks.
 */
export function attentionChunks(
  batch: number,
  tq: number,
  tk: number,
  heads: number,
  budgetBytes: number,
  align = 1,
): { chunk: number; count: number } {
  if (!(budgetBytes > 0)) throw new ShapeError(`attention: the chunk budget must be a positive number of bytes, got ${budgetBytes}`);
  const perRow = tk * heads * batch * 4;
  let chunk = Math.max(1, Math.floor(budgetBytes / perRow));
  if (chunk >= tq) return { chunk: tq, count: 1 };
  if (chunk >= align) chunk -= chunk % align;
  return { chunk, count: Math.ceil(tq / chunk) };
}

interface Window {
  tensor: Tensor;
  offset: number;
  batch: number;
  rows: number;
  stride: number;
}

function windowOf(input: AttentionInput, name: string): Window {
  const tensor = isChannelSlice(input) ? input.tensor : input;
  const offset = isChannelSlice(input) ? input.offset : 0;
  if (tensor.shape.length !== 3 || tensor.format !== 'f32') {
    throw new ShapeError(`attention: ${name} (${tensor.label}) must be an f32 [B, T, C] tensor, got ${tensor.format} ${shapeString(tensor.shape)}`);
  }
  const [batch, rows, stride] = tensor.shape as [number, number, number];
  if (!Number.isInteger(offset) || offset < 0 || offset >= stride) {
    throw new ShapeError(`attention: ${name} window starts at channel ${offset}, outside ${tensor.label} ${shapeString(tensor.shape)}`);
  }
  return { tensor, offset, batch, rows, stride };
}

/** Runs attention and returns the tensor holding the result (the whole tensor when `out` is a channel slice). */
export function attention(ctx: GpuContext, args: AttentionArgs): Tensor {
  const q = windowOf(args.q, 'Q');
  const k = windowOf(args.k, 'K');
  const v = windowOf(args.v, 'V');
  const { heads } = args;
  const channels = args.channels ?? Math.min(...[q, k, v].map((w) => w.stride - w.offset));
  if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(channels) || channels < 1 || channels % heads !== 0) {
    throw new ShapeError(`attention: ${channels} channels do not split into ${heads} heads`);
  }
  for (const [name, w] of [['Q', q], ['K', k], ['V', v]] as const) {
    if (w.offset + channels > w.stride) {
      throw new ShapeError(
        `attention: ${name} window [${w.offset}, ${w.offset + channels}) overflows ${w.tensor.label} ${shapeString(w.tensor.shape)}`,
      );
    }
  }
  if (k.batch !== q.batch || v.batch !== q.batch || k.rows !== v.rows) {
    throw new ShapeError(
      `attention: Q ${shapeString(q.tensor.shape)}, K ${shapeString(k.tensor.shape)} and V ${shapeString(v.tensor.shape)} ` +
        `need one batch size and K, V the same number of rows`,
    );
  }
  if (args.causal && k.rows !== q.rows) {
    throw new ShapeError(`attention: a causal mask needs as many keys as queries, got ${k.rows} keys for ${q.rows} queries`);
  }
  const headDim = channels / heads;
  const scale = args.scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(scale)) throw new ShapeError(`attention: scale must be finite, got ${scale}`);
  const limits = {
    workgroupBytes: ctx.device.limits.maxComputeWorkgroupStorageSize,
    threads: Math.min(ctx.device.limits.maxComputeInvocationsPerWorkgroup, ctx.device.limits.maxComputeWorkgroupSizeX),
  };
  const tuned = args.tile ? undefined : ctx.tuning?.attention({ op: 'attention', batch: q.batch, tq: q.rows, tk: k.rows, heads, headDim, causal: args.causal === true });
  const tile = args.tile ?? tuned?.tile ?? untunedAttentionTile(ctx.adapter, headDim, limits, k.rows);
  const layout = checkTile(headDim, tile, limits);

  const batch = q.batch;
  const tq = q.rows;
  const tk = k.rows;
  const o = resolveOutput(ctx, [batch, tq, channels], args.out, 'attention');
  if ([q, k, v].some((w) => w.tensor.buffer === o.tensor.buffer)) {
    throw new ShapeError(`attention: the output ${o.tensor.label} shares a buffer with Q, K or V; one dispatch cannot read and write a buffer`);
  }

  const { slice4, split, rowGroups } = layout;
  const { rowsPerThread, keys, keySplit } = tile;
  const causal = args.causal === true;
  const variant = `d${headDim}-s${slice4}x${split}-r${rowsPerThread}x${rowGroups}-k${keys}x${keySplit}${causal ? '-causal' : ''}`;
  const header =
    `const HEAD_DIM = ${headDim}u;\nconst SLICE4 = ${slice4}u;\nconst SPLIT = ${split}u;\n` +
    `const ROWS_PER_THREAD = ${rowsPerThread}u;\nconst ROW_GROUPS = ${rowGroups}u;\nconst KEYS = ${keys}u;\nconst KEY_SPLIT = ${keySplit}u;\nconst CAUSAL = ${causal};\n`;
  // A tuned budget may make chunks smaller than the caller's (or the context's) budget allows, never larger.
  const budget = Math.min(args.budgetBytes ?? ctx.attentionBudgetBytes, tuned?.budgetBytes ?? Infinity);
  const { chunk, count } = attentionChunks(batch, tq, tk, heads, budget, tile.rows);
  for (let i = 0; i < count; i++) {
    const start = i * chunk;
    const end = Math.min(tq, start + chunk);
    const tiles = Math.ceil((end - start) / tile.rows);
    const groups = tiles * heads * batch;
    ctx.dispatch({
      op: 'attention',
      variant,
      code: () => header + source,
      uniforms: uniforms([
        ['u32', tq],
        ['u32', tk],
        ['u32', heads],
        ['u32', tiles],
        ['u32', start],
        ['u32', end],
        ['u32', q.stride],
        ['u32', q.offset],
        ['u32', k.stride],
        ['u32', k.offset],
        ['u32', v.stride],
        ['u32', v.offset],
        ['u32', o.channelStride],
        ['u32', o.channelOffset],
        ['f32', scale * Math.LOG2E],
        ['u32', groups],
      ]),
      bindings: [q.tensor, k.tensor, v.tensor, o.tensor],
      workgroups: ctx.grid(groups),
    });
  }
  return o.tensor;
}
