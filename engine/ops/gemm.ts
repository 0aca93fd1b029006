/**
 * Matrix products: `linear` (activation × weight, with a fused epilogue) and `matmul` (batched activation ×
 * activation), both on one register-blocked tiled kernel (shaders/gemm.wgsl).
 *
 *   linear:  y[r, n] = act(Σ_k x[r, k] · w[n, k] + bias[n]) + residual[r, n]      r over every leading index of x
 *            (with `geglu`, x is [..., 2K] and x[r, k] reads x[r, k] · gelu(x[r, K + k]): diffusers' GEGLU, fused)
 *   matmul:  c[b, m, n] = alpha · Σ_k a[b, m, k] · b[b, k, n]     (or b[b, n, k] with `transposeB`)
 *
 * Layout: activations f32, channels last, so x [..., K] may be a sequence [B, T, K] or an NHWC image [B, H, W, K]
 * (a 1×1 convolution is `linear` on NHWC). Weights are [N, K] in any storage format of engine/quant/pack.ts and are
 * dequantised while their tile is loaded into workgroup memory, never as a whole. The result may go into a channel
 * slice of a wider tensor (skip-connection concat).
 *
 * Precision: products and sums in f32, accumulated in registers over the whole of K; quantised weights are exact
 * integer × f16 scale products in f32, so results equal an f32 GEMM with the dequantised weights up to summation
 * order. GELU is the exact erf form, via the erfc fit of shaders/activations.wgsl (relative error < 1.2e-7).
 *
 * Tiling (`GemmTile`): a workgroup computes tileM × tileN outputs, stepping through K tileK at a time; each thread
 * computes wptM × wptN of them. `vec` is the widest vector load of f32 operands along their contiguous axis; a narrower
 * one is used where the shape is not aligned to it (and f16 weights load two words at once when `vec` ≥ 2; int8 and
 * int4 weights are read a word at a time). The tile is part of the pipeline variant: an auto-tuner picks one per
 * adapter among `gemmTileCandidates()`.
 */
import activations from '../../shaders/activations.wgsl?raw';
import source from '../../shaders/gemm.wgsl?raw';
import { resolveOutput, uniforms, type GpuContext, type ResolvedOutput } from '../gpu/context';
import { EngineError, ShapeError, UnsupportedFormatError } from '../gpu/errors';
import { numel, shapeString, type ChannelSlice, type Output, type StorageFormat, type Tensor } from '../gpu/tensor';
import type { AdapterSummary } from '../gpu/device';
import { preprocess } from '../gpu/wgsl';
import { weightBindings, weightInfo } from './weights';

export interface GemmTile {
  /** Output rows per workgroup. */
  tileM: number;
  /** Output columns per workgroup. */
  tileN: number;
  /** Reduction step held in workgroup memory; a multiple of 4. */
  tileK: number;
  /** Widest vector load of f32 operands (1, 2 or 4 values). */
  vec: 1 | 2 | 4;
  /** Output rows per thread; divides tileM. */
  wptM: number;
  /** Output columns per thread; divides tileN. */
  wptN: number;
}

/** 256 threads of 4×4 outputs, 10 KiB of workgroup memory: within WebGPU's default limits. */
export const DEFAULT_GEMM_TILE: Readonly<GemmTile> = { tileM: 64, tileN: 64, tileK: 16, vec: 4, wptM: 4, wptN: 4 };

/**
 * On adapters that run WebGPU on the CPU (SwiftShader, llvmpipe/lavapipe, WARP), every invocation is a SIMD lane of
 * a CPU thread and each workgroup barrier switches coroutines, so few threads with many outputs each win: on
 * SwiftShader, 64 threads of 8×8 ran bench-unet's GEMMs (M 128–2048, N 32–256, K 32–512) 1.5–5× faster than the
 * 256 threads of 4×4 of the GPU default. A 32-wide tile for N ≤ 32 stops half of each tile computing zeros.
 */
export function cpuGemmTile(n: number): GemmTile {
  return { tileM: 64, tileN: n <= 32 ? 32 : 64, tileK: 16, vec: 4, wptM: 8, wptN: 8 };
}

/** Whether `adapter` is a software rasteriser running WebGPU on the CPU. */
export function isCpuAdapter(adapter: Pick<AdapterSummary, 'vendor' | 'architecture' | 'description' | 'device'>): boolean {
  const text = `${adapter.vendor} ${adapter.architecture} ${adapter.description} ${adapter.device}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|microsoft basic render|\bwarp\b/.test(text);
}

/** The tile an untuned GEMM of N columns runs with on `adapter`. */
export function defaultGemmTile(adapter: Pick<AdapterSummary, 'vendor' | 'architecture' | 'description' | 'device'>, n: number): GemmTile {
  return isCpuAdapter(adapter) ? cpuGemmTile(n) : DEFAULT_GEMM_TILE;
}

/** The device limits a tile must respect (a `GPUSupportedLimits` will do). */
export type GemmLimits = Pick<GPUSupportedLimits, 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxComputeWorkgroupStorageSize'>;

/** WebGPU's default limits, which every adapter offers. */
const BASELINE_LIMITS: GemmLimits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupStorageSize: 16384 };

/** Accumulators per thread beyond which registers spill on common GPUs. */
const MAX_OUTPUTS_PER_THREAD = 64;

/** A GEMM tile configuration that is malformed or does not fit this adapter. */
export class GemmTileError extends EngineError {}

/** Threads per workgroup and bytes of workgroup memory a tile uses. */
export function gemmTileCost(tile: GemmTile): { threads: number; workgroupBytes: number } {
  return {
    threads: (tile.tileM / tile.wptM) * (tile.tileN / tile.wptN),
    // Both tiles as vec4 chunks along K, each row padded by one chunk (see shaders/gemm.wgsl).
    workgroupBytes: 16 * (tile.tileM + tile.tileN) * (tile.tileK / 4 + 1),
  };
}

export function gemmTileKey(tile: GemmTile): string {
  return `${tile.tileM}x${tile.tileN}x${tile.tileK}v${tile.vec}w${tile.wptM}x${tile.wptN}`;
}

/** Throws `GemmTileError` saying what to change when `tile` is malformed or exceeds `limits`. */
export function validateGemmTile(tile: GemmTile, limits: GemmLimits): void {
  const name = `GEMM tile ${gemmTileKey(tile)}`;
  for (const key of ['tileM', 'tileN', 'tileK', 'wptM', 'wptN'] as const) {
    if (!Number.isInteger(tile[key]) || tile[key] < 1) throw new GemmTileError(`${name}: ${key} must be a positive integer`);
  }
  if (![1, 2, 4].includes(tile.vec)) throw new GemmTileError(`${name}: vec must be 1, 2 or 4`);
  if (tile.tileK % 4) throw new GemmTileError(`${name}: tileK must be a multiple of 4 (tiles are held as vec4 along K)`);
  if (tile.tileM % tile.wptM || tile.tileN % tile.wptN) throw new GemmTileError(`${name}: wptM must divide tileM and wptN must divide tileN`);
  if (tile.wptM * tile.wptN > MAX_OUTPUTS_PER_THREAD) {
    throw new GemmTileError(`${name}: ${tile.wptM * tile.wptN} outputs per thread would spill registers; use wptM·wptN ≤ ${MAX_OUTPUTS_PER_THREAD}`);
  }
  const { threads, workgroupBytes } = gemmTileCost(tile);
  const maxThreads = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  if (threads > maxThreads) {
    throw new GemmTileError(`${name}: needs ${threads} threads per workgroup but this adapter allows ${maxThreads}; raise wptM/wptN or shrink tileM/tileN`);
  }
  if (workgroupBytes > limits.maxComputeWorkgroupStorageSize) {
    throw new GemmTileError(
      `${name}: needs ${workgroupBytes} bytes of workgroup memory but this adapter allows ${limits.maxComputeWorkgroupStorageSize}; shrink tileM, tileN or tileK`,
    );
  }
}

/**
 * The tiles an auto-tuner should time: 64 to 256 threads, 4 to 64 outputs per thread, square and non-square blocks,
 * every one valid for `limits`. Loads are vec4 (they narrow by themselves where a shape is unaligned).
 */
export function gemmTileCandidates(limits: GemmLimits = BASELINE_LIMITS): GemmTile[] {
  const sizes = [16, 32, 64, 128];
  const wpts: [number, number][] = [[2, 2], [2, 4], [4, 2], [4, 4], [4, 8], [8, 4], [8, 8]];
  const out: GemmTile[] = [];
  for (const tileM of sizes) {
    for (const tileN of sizes) {
      for (const tileK of [16, 32]) {
        for (const [wptM, wptN] of wpts) {
          const tile: GemmTile = { tileM, tileN, tileK, vec: 4, wptM, wptN };
          if (tileM % wptM || tileN % wptN) continue;
          const { threads } = gemmTileCost(tile);
          if (threads < 64 || threads > 256) continue;
          try {
            validateGemmTile(tile, limits);
          } catch {
            continue;
          }
          out.push(tile);
        }
      }
    }
  }
  return out;
}

export type Activation = 'gelu' | 'quick-gelu' | 'silu';

export interface LinearOptions {
  /** f32 [N], added before the activation. */
  bias?: Tensor;
  activation?: Activation;
  /** f32 of the output's shape, added after the activation; may be the output itself (in-place `out = residual`). */
  residual?: Tensor;
  /**
   * x is [..., 2K] and the product's input is its GEGLU, x[..., :K] · gelu(x[..., K:]) (CPU reference: engine/ref/geglu.ts),
   * applied as A's tiles are loaded; K must be a multiple of 4.
   */
  geglu?: boolean;
  /**
   * The product's input is x after LayerNorm over K, (x − μ_r) / √(σ²_r + eps) · gamma + beta (engine/ops/layer-norm.ts),
   * with each row's statistics computed by the GEMM's workgroup; K must be a multiple of 4. Not with `geglu` or `skip`.
   */
  layerNorm?: { gamma: Tensor; beta: Tensor; eps: number };
  /** Where to write: a fresh tensor when absent, a tensor, or a channel slice of a wider one. */
  out?: Output;
  /** A second place the result is written to (the UNet keeps a skip connection's copy in its up block's input). */
  skip?: ChannelSlice;
  tile?: GemmTile;
}

export interface MatmulOptions {
  /** b is [..., N, K] instead of [..., K, N]. */
  transposeB?: boolean;
  /** Scale of the product (e.g. 1/√d for attention scores). */
  alpha?: number;
  out?: Output;
  tile?: GemmTile;
}

type BKind = StorageFormat | 'kn';

interface Gemm {
  op: 'linear' | 'matmul';
  a: Tensor;
  b: Tensor;
  scales: GPUBuffer | undefined;
  bKind: BKind;
  /** Rows per batch, columns, reduction length, batches. */
  m: number;
  n: number;
  k: number;
  batch: number;
  /** Words per packed weight row, or elements per row of an f32 B. */
  bRow: number;
  alpha: number;
  bias?: Tensor;
  activation?: Activation;
  residual?: Tensor;
  geglu?: boolean;
  layerNorm?: { gamma: Tensor; beta: Tensor; eps: number };
  out: ResolvedOutput;
  skip?: ResolvedOutput;
  tile: GemmTile;
}

/** The widest load width ≤ `vec` that every row start (a multiple of `rowLength`) is aligned to. */
function alignedWidth(vec: number, rowLength: number): 1 | 2 | 4 {
  if (vec >= 4 && rowLength % 4 === 0) return 4;
  if (vec >= 2 && rowLength % 2 === 0) return 2;
  return 1;
}

function bLoadWidth(g: Gemm): 1 | 2 | 4 {
  switch (g.bKind) {
    case 'f32':
      return alignedWidth(g.tile.vec, g.k);
    case 'f16':
      return alignedWidth(Math.min(g.tile.vec, 2), g.bRow);
    default:
      return 1;
  }
}

function assertNoAlias(op: string, out: ResolvedOutput, inputs: readonly (Tensor | undefined)[]): void {
  for (const t of inputs) {
    if (t && t.buffer === out.tensor.buffer) {
      throw new ShapeError(`${op}: output ${out.tensor.label} shares a buffer with input ${t.label}; write into a separate tensor`);
    }
  }
}

function run(ctx: GpuContext, g: Gemm): void {
  const { tile } = g;
  const vecA = g.geglu || g.layerNorm ? 4 : alignedWidth(tile.vec, g.k);
  const vecB = bLoadWidth(g);
  const inOut = g.residual !== undefined && g.residual.buffer === g.out.tensor.buffer;
  if (inOut && (g.residual!.byteOffset !== g.out.tensor.byteOffset || g.out.channelOffset !== 0 || g.out.channelStride !== g.n)) {
    throw new ShapeError(`${g.op}: residual ${g.residual!.label} overlaps the output without being the output itself`);
  }
  const tilesM = Math.ceil(g.m / tile.tileM);
  const [gy, gz] = ctx.grid(tilesM * g.batch);
  const act = g.activation ?? 'none';
  const epilogue = `${g.geglu ? 'geglu:' : ''}${g.layerNorm ? 'ln:' : ''}${g.bias ? 'bias+' : ''}${act}${g.residual ? (inOut ? '+res-inout' : '+res') : ''}${g.skip ? '+skip' : ''}`;
  const header = [`TILE_M = ${tile.tileM}u`, `TILE_N = ${tile.tileN}u`, `TILE_K = ${tile.tileK}u`, `WPT_M = ${tile.wptM}u`, `WPT_N = ${tile.wptN}u`, `VEC_B = ${vecB}u`]
    .map((c) => `const ${c};\n`)
    .join('');
  ctx.dispatch({
    op: g.op,
    variant: `${g.bKind}/a${vecA}b${vecB}/${epilogue}/${gemmTileKey(tile)}`,
    code: () =>
      header +
      (act === 'none' && !g.geglu ? '' : activations) +
      preprocess(source, {
        A_VEC4: vecA === 4,
        A_VEC2: vecA === 2,
        A_GEGLU: g.geglu === true,
        A_LAYERNORM: g.layerNorm !== undefined,
        B_F16: g.bKind === 'f16',
        B_INT8: g.bKind === 'int8',
        B_INT4: g.bKind === 'int4',
        B_SCALED: g.bKind === 'int8' || g.bKind === 'int4',
        B_KN: g.bKind === 'kn',
        B_VEC4: vecB === 4,
        B_VEC2: vecB === 2,
        BIAS: g.bias !== undefined,
        GELU: act === 'gelu',
        QUICK_GELU: act === 'quick-gelu',
        SILU: act === 'silu',
        RESIDUAL: g.residual !== undefined && !inOut,
        RESIDUAL_IN_OUT: inOut,
        SKIP: g.skip !== undefined,
      }),
    uniforms: uniforms([
      ['u32', g.m],
      ['u32', g.n],
      ['u32', g.k],
      ['u32', g.bRow],
      ['u32', tilesM],
      ['u32', tilesM * g.batch],
      ['u32', g.out.channelOffset],
      ['u32', g.out.channelStride],
      ['f32', g.alpha],
      ['u32', g.skip?.channelOffset ?? 0],
      ['u32', g.skip?.channelStride ?? 0],
      ['f32', g.layerNorm?.eps ?? 0],
    ]),
    bindings: [g.a, g.b, g.scales, g.bias, inOut ? undefined : g.residual, g.out.tensor, g.skip?.tensor, g.layerNorm?.gamma, g.layerNorm?.beta],
    workgroups: [Math.ceil(g.n / tile.tileN), gy, gz],
  });
}

function requireF32(op: string, t: Tensor, role: string): void {
  if (t.format !== 'f32') throw new UnsupportedFormatError(`${op}: ${role} ${t.label} is ${t.format}; activations must be f32`);
}

/**
 * y = act(x · wᵀ + bias) + residual for x f32 [..., K] and a weight [N, K] of any storage format; y is [..., N].
 * Returns the tensor written (the whole tensor when `out` is a channel slice).
 */
export function linear(ctx: GpuContext, x: Tensor, w: Tensor, opts: LinearOptions = {}): Tensor {
  const { n, k, row } = weightInfo(w, 'linear');
  requireF32('linear', x, 'input');
  const geglu = opts.geglu === true;
  const width = geglu ? 2 * k : k;
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== width) {
    throw new ShapeError(`linear: input ${x.label} ${shapeString(x.shape)} must end in ${geglu ? '2·K' : 'K'} = ${width} for weight ${w.label} ${shapeString(w.shape)}`);
  }
  if (geglu && k % 4 !== 0) throw new ShapeError(`linear: GEGLU input needs K a multiple of 4, got K = ${k} (run geglu() first)`);
  const ln = opts.layerNorm;
  if (ln) {
    if (geglu || opts.skip) throw new ShapeError('linear: a fused LayerNorm cannot be combined with geglu or skip; run layerNorm() first');
    if (k % 4 !== 0) throw new ShapeError(`linear: a fused LayerNorm needs K a multiple of 4, got K = ${k} (run layerNorm() first)`);
    for (const [name, t] of [['gamma', ln.gamma], ['beta', ln.beta]] as const) {
      requireF32('linear', t, `LayerNorm ${name}`);
      if (t.shape.length !== 1 || t.shape[0] !== k) throw new ShapeError(`linear: LayerNorm ${name} ${t.label} ${shapeString(t.shape)} must be [${k}]`);
    }
    if (!(ln.eps >= 0) || !Number.isFinite(ln.eps)) throw new ShapeError(`linear: LayerNorm eps must be a finite number ≥ 0, got ${ln.eps}`);
  }
  const outShape = [...x.shape.slice(0, -1), n];
  const { bias, residual } = opts;
  if (bias) {
    requireF32('linear', bias, 'bias');
    if (bias.shape.length !== 1 || bias.shape[0] !== n) throw new ShapeError(`linear: bias ${bias.label} ${shapeString(bias.shape)} must be [${n}]`);
  }
  if (residual) {
    requireF32('linear', residual, 'residual');
    if (shapeString(residual.shape) !== shapeString(outShape)) {
      throw new ShapeError(`linear: residual ${residual.label} ${shapeString(residual.shape)} must have the output's shape ${shapeString(outShape)}`);
    }
  }
  const m = numel(x.shape) / width;
  const tile = opts.tile ?? ctx.tuning?.gemm({ op: 'gemm', b: w.format, batch: 1, m, k, n }) ?? defaultGemmTile(ctx.adapter, n);
  validateGemmTile(tile, ctx.device.limits);
  const [wData, scales] = weightBindings(w);
  const out = resolveOutput(ctx, outShape, opts.out, 'linear');
  assertNoAlias('linear', out, [x, bias, ln?.gamma, ln?.beta]);
  const skip = opts.skip ? resolveOutput(ctx, outShape, opts.skip, 'linear skip') : undefined;
  if (skip) assertNoAlias('linear', skip, [x, bias, residual, out.tensor]);
  run(ctx, {
    op: 'linear',
    a: x,
    b: wData,
    scales,
    bKind: w.format,
    m,
    n,
    k,
    batch: 1,
    bRow: row,
    alpha: 1,
    bias,
    activation: opts.activation,
    residual,
    geglu,
    ...(ln ? { layerNorm: ln } : {}),
    out,
    ...(skip ? { skip } : {}),
    tile,
  });
  return out.tensor;
}

/**
 * c = alpha · a · b for a f32 [..., M, K] and b f32 [..., K, N] (or [..., N, K] with `transposeB`), with the same
 * leading (batch) dimensions; c is [..., M, N]. Returns the tensor written.
 */
export function matmul(ctx: GpuContext, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  requireF32('matmul', a, 'a');
  requireF32('matmul', b, 'b');
  const rank = a.shape.length;
  const lead = a.shape.slice(0, -2);
  if (rank < 2 || b.shape.length !== rank || shapeString(b.shape.slice(0, -2)) !== shapeString(lead)) {
    throw new ShapeError(`matmul: a ${shapeString(a.shape)} and b ${shapeString(b.shape)} need equal batch dimensions and at least 2 dimensions`);
  }
  const [m, k] = a.shape.slice(-2) as [number, number];
  const transposeB = opts.transposeB ?? false;
  const [kb, n] = (transposeB ? b.shape.slice(-2).reverse() : b.shape.slice(-2)) as [number, number];
  if (kb !== k) {
    throw new ShapeError(`matmul: a ${shapeString(a.shape)} has K = ${k} but b ${shapeString(b.shape)}${transposeB ? ' (transposed)' : ''} has ${kb}`);
  }
  const tile = opts.tile ?? ctx.tuning?.gemm({ op: 'gemm', b: transposeB ? 'f32' : 'kn', batch: numel(lead), m, k, n }) ?? defaultGemmTile(ctx.adapter, n);
  validateGemmTile(tile, ctx.device.limits);
  const out = resolveOutput(ctx, [...lead, m, n], opts.out, 'matmul');
  assertNoAlias('matmul', out, [a, b]);
  run(ctx, {
    op: 'matmul',
    a,
    b,
    scales: undefined,
    bKind: transposeB ? 'f32' : 'kn',
    m,
    n,
    k,
    batch: numel(lead),
    bRow: transposeB ? k : n,
    alpha: opts.alpha ?? 1,
    out,
    tile,
  });
  return out.tensor;
}
