/**
 * 3×3 convolution, stride 1 or 2, for NHWC activations, with bias, residual add, fused nearest 2× upsampling of the
 * input, and output into a channel slice (optionally a second copy into another: the UNet's skip connections).
 *
 *   y[b, oy, ox, co] = bias[co] + residual[b, oy, ox, co]
 *                      + Σ_{ky, kx, ci} w[co, (ky·3 + kx)·Cin + ci] · x̃[b, oy·s + ky − p, ox·s + kx − p, ci]
 *
 * x̃ is x, or with `upsample` its nearest-neighbour enlargement x̃[b, y, x] = x[b, ⌊y/2⌋, ⌊x/2⌋] of H̃ × W̃ pixels,
 * which exists only in the kernel's input indexing; pixels outside x̃ read as zero. Padding 'symmetric' (p = 1,
 * PyTorch's Conv2d(k=3, p=1)) gives Ho = ⌊(H̃ − 1)/s⌋ + 1; 'bottom-right' (p = 0, diffusers' VAE-encoder downsampling
 * after F.pad(x, (0, 1, 0, 1))) gives Ho = ⌊(H̃ − 2)/s⌋ + 1; H̃ = H, or 2H when upsampling, or 2H − 1 when the caller
 * asks for that size (see `Upsample`); likewise Wo.
 *
 * Layouts: x f32 [B, H, W, Cin]; y f32 [B, Ho, Wo, Cout] (or a channel slice of a wider tensor: the UNet's skip
 * concatenations); residual f32 [B, Ho, Wo, Cout]; bias f32 [Cout]. The weight is either
 * - a matrix [Cout, 9·Cin] with k = (ky·3 + kx)·Cin + ci (`convWeightMatrix` reorders PyTorch's [Cout, Cin, 3, 3]),
 *   in any storage format of engine/quant/pack.ts: the direct algorithm, an implicit GEMM (M = B·Ho·Wo pixels,
 *   N = Cout, K = 9·Cin) gathering its input tile from x and dequantising weights as they are staged; or
 * - a Winograd weight [16, Cout, Cin] from `winogradWeight(WINOGRAD.winograd, …)` (engine/ops/winograd-common.ts):
 *   F(2×2, 3×3), stride 1 only,
 *   2.25× fewer multiplies for the price of 16/9 the weight memory; or
 * - a Winograd weight [36, Cout, Cin] from `winogradWeight(WINOGRAD.winograd4, …)`: F(4×4, 3×3), stride 1 only,
 *   4× fewer multiplies for 4× the weight memory and a larger f32 rounding error; only the tuner chooses it.
 * A layer's algorithm is fixed when its weight is loaded; `preferredConvAlgorithm` is the loader's rule until the
 * tuner decides per adapter.
 *
 * 1×1 convolutions are GEMMs over the pixels of the NHWC tensor: call `linear` (engine/ops/gemm.ts) with the
 * [Cout, Cin] weight.
 *
 * Precision: products and sums in f32; the direct path adds the 9·Cin terms in K order, Winograd adds transformed
 * terms whose rounding differs by a few f32 ulps of the largest partial sums.
 */
import source from '../../shaders/conv2d.wgsl?raw';
import tileSource from '../../shaders/conv2d-tile.wgsl?raw';
import type { AdapterSummary } from '../gpu/device';
import { resolveOutput, uniforms, type GpuContext, type ResolvedOutput } from '../gpu/context';
import { ShapeError, UnsupportedFormatError } from '../gpu/errors';
import { shapeString, type ChannelSlice, type Output, type Tensor } from '../gpu/tensor';
import { preprocess } from '../gpu/wgsl';
import { isCpuAdapter } from './gemm';
import { weightBindings, weightDefines, weightInfo, weightsWgsl } from './weights';
import { WINOGRAD_F2, winogradConv } from './winograd';
import { WINOGRAD_F4, winograd4Conv } from './winograd4';
import { isWinogradWeight } from './winograd-common';

/**
 * The register and workgroup tiling of the conv GEMMs (direct and Winograd). A workgroup computes `tm` output rows
 * (pixels, or Winograd tiles) × `tn` output channels with (tm / rm)·(tn / 4) threads, each accumulating `rm` rows ×
 * 4 channels; `tk` reduction columns are staged in workgroup memory per step. `rm` is a multiple of 4 (rows are read
 * from workgroup memory four at a time).
 */
export interface ConvTile {
  tm: number;
  tn: number;
  tk: number;
  rm: number;
}

export const DEFAULT_CONV_TILE: ConvTile = { tm: 64, tn: 64, tk: 16, rm: 4 };

/**
 * The untuned tile on adapters that run WebGPU on the CPU (`isCpuAdapter`): 32–64 threads of 8–16 rows each, as for
 * the GEMM, and 32-wide where the rows (pixels or Winograd tiles) or Cout are that few. On SwiftShader these ran
 * bench-unet's Winograd convolutions (32×32×32→32 to 8×8×128→128, batch 2) 2–8× faster than DEFAULT_CONV_TILE.
 */
export function cpuConvTile(rows: number, cout: number): ConvTile {
  const tm = rows <= 32 ? 32 : 64;
  return { tm, tn: cout <= 32 ? 32 : 64, tk: 16, rm: tm === 32 ? 8 : 16 };
}

/** The tile a convolution with `rows` output rows (pixels, or Winograd tiles) and `cout` channels runs untuned. */
export function untunedConvTile(adapter: AdapterSummary, rows: number, cout: number): ConvTile {
  return isCpuAdapter(adapter) ? cpuConvTile(rows, cout) : DEFAULT_CONV_TILE;
}

/** What a tuner tries; every entry fits WebGPU's default limits (256 invocations, 16 KiB workgroup memory). */
export const CONV_TILE_CANDIDATES: readonly ConvTile[] = [
  DEFAULT_CONV_TILE,
  { tm: 64, tn: 64, tk: 16, rm: 8 },
  { tm: 128, tn: 64, tk: 16, rm: 8 },
  { tm: 64, tn: 128, tk: 16, rm: 8 },
  { tm: 32, tn: 64, tk: 16, rm: 4 },
  { tm: 32, tn: 64, tk: 32, rm: 4 },
  { tm: 64, tn: 32, tk: 16, rm: 4 },
  { tm: 32, tn: 32, tk: 16, rm: 4 },
];

/** A layer's algorithm, fixed by its weight's layout: direct, Winograd F(2×2, 3×3) or Winograd F(4×4, 3×3). */
export type ConvWeightAlgorithm = 'direct' | 'winograd' | 'winograd4';

export type ConvAlgorithm = ConvWeightAlgorithm | 'auto';

/** The algorithm `w` was prepared for (see the file's header). */
export function convWeightAlgorithm(w: Tensor): ConvWeightAlgorithm {
  return isWinogradWeight(WINOGRAD.winograd, w) ? 'winograd' : isWinogradWeight(WINOGRAD.winograd4, w) ? 'winograd4' : 'direct';
}

/** The Winograd algorithms by name: `m`, output pixels per tile side, is 2 for F(2×2, 3×3) and 4 for F(4×4, 3×3). */
export const WINOGRAD = { winograd: WINOGRAD_F2, winograd4: WINOGRAD_F4 } as const;

/**
 * 'symmetric': one zero pixel on every side (PyTorch padding=1). 'bottom-right': zeros only below and right of the
 * image, as diffusers' VAE encoder downsamples (F.pad(x, (0, 1, 0, 1)), then a convolution without padding).
 */
export type ConvPadding = 'symmetric' | 'bottom-right';

/**
 * Fused nearest upsampling of the input: `true` doubles H and W; [H̃, W̃] enlarges to that size, each side 2n − 1 or
 * 2n, as diffusers' UNet asks (`upsample_size`: the size of the skip connection joined next) when the latents are
 * not a multiple of 2^(levels − 1). PyTorch's nearest reads source pixel ⌊i·n/H̃⌋, which is ⌊i/2⌋ for both sizes
 * (tests/ops/conv2d.test.ts checks it), so the kernels index with a shift and only clip at H̃.
 */
export type Upsample = boolean | readonly [number, number];

export interface Conv2dOptions {
  bias?: Tensor;
  stride?: 1 | 2;
  upsample?: Upsample;
  padding?: ConvPadding;
  /** Added after the bias; f32 of the output's shape. */
  residual?: Tensor;
  /** Where to write: a fresh pooled tensor when absent, a tensor, or a channel slice of a wider one. */
  out?: Output;
  /** A second place the result is written to (the UNet keeps a skip connection's copy in its up block's input). */
  skip?: ChannelSlice;
  tile?: ConvTile;
  /**
   * Which weight kind the caller expects: 'direct' a [Cout, 9·Cin] matrix, 'winograd' a [16, Cout, Cin] and
   * 'winograd4' a [36, Cout, Cin] Winograd weight; 'auto' runs whichever algorithm the weight was prepared for.
   */
  algorithm?: ConvAlgorithm;
  /**
   * Winograd only: bytes of each intermediate [16 or 36, tiles, C] buffer (default WINOGRAD_WORKSPACE_BYTES);
   * outputs with more tiles are done in chunks.
   */
  workspaceBytes?: number;
}

/**
 * The tile as WGSL (constants, the unrolled register block, and the weight staging every conv GEMM shares:
 * shaders/conv2d-tile.wgsl) and its part of the pipeline key.
 */
export interface ResolvedTile {
  tile: ConvTile;
  wgsl: string;
  key: string;
}

/** Checks a tile against the kernels' divisibility rules and the device's limits. */
export function resolveTile(ctx: GpuContext, tile: ConvTile): ResolvedTile {
  const { tm, tn, tk, rm } = tile;
  const threads = (tm / rm) * (tn / 4);
  const quadsPerPass = threads / tk;
  const limits = ctx.device.limits;
  const sharedBytes = tk * (tm / 4 + 1 + tn / 4 + 1) * 16;
  const problems = [
    [[tm, tn, tk, rm].every((v) => Number.isInteger(v) && v > 0), 'positive integers'],
    [rm % 4 === 0 && tm % rm === 0 && tn % 4 === 0, 'rm is a multiple of 4 dividing tm, and 4 divides tn'],
    [threads <= limits.maxComputeInvocationsPerWorkgroup, `at most ${limits.maxComputeInvocationsPerWorkgroup} threads`],
    [Number.isInteger(quadsPerPass) && (tm / 4) % quadsPerPass === 0 && (tn / 4) % quadsPerPass === 0, 'tk divides the thread count, whose quotient divides tm/4 and tn/4'],
    [sharedBytes <= limits.maxComputeWorkgroupStorageSize, `at most ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`],
  ] as const;
  const failed = problems.filter(([ok]) => !ok).map(([, rule]) => rule);
  if (failed.length) throw new ShapeError(`conv2d: tile ${JSON.stringify(tile)} breaks: ${failed.join('; ')}. Pick one of CONV_TILE_CANDIDATES.`);
  const quads = Array.from({ length: rm / 4 }, (_, q) =>
    [`  let a${q} = As[a + ${q}u];`, ...['x', 'y', 'z', 'w'].map((c, r) => `  (*acc)[${4 * q + r}] += a${q}.${c} * b;`)].join('\n'),
  ).join('\n');
  const stores = Array.from({ length: rm }, (_, i) => `  store_row(m + ${i}u, n, (*acc)[${i}]);`).join('\n');
  const wgsl = `const TM: u32 = ${tm}u;
const TN: u32 = ${tn}u;
const TK: u32 = ${tk}u;
const RM: u32 = ${rm}u;

// The register block spelled out: WGSL has no unroll hint, and a compiler that does not unroll the row loop
// (SwiftShader) keeps a dynamically indexed accumulator array in memory instead of registers.
fn accumulate(acc: ptr<function, array<vec4f, RM>>, a: u32, b: vec4f) {
${quads}
}

fn store_block(acc: ptr<function, array<vec4f, RM>>, m: u32, n: u32) {
${stores}
}
` + tileSource;
  return { tile, wgsl, key: `${tm}x${tn}x${tk}r${rm}` };
}

/** PyTorch's [Cout, Cin, 3, 3] weight as the [Cout, 9·Cin] matrix of the direct kernel, k = (ky·3 + kx)·Cin + ci. */
export function convWeightMatrix(oihw: Float32Array, cout: number, cin: number): Float32Array {
  if (oihw.length !== cout * cin * 9) throw new ShapeError(`convWeightMatrix: ${oihw.length} values for [${cout}, ${cin}, 3, 3]`);
  const out = new Float32Array(oihw.length);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let tap = 0; tap < 9; tap++) out[co * 9 * cin + tap * cin + ci] = oihw[(co * cin + ci) * 9 + tap]!;
    }
  }
  return out;
}

/**
 * The algorithm a loader should prepare a layer's weight for. Winograd's GEMMs reduce over Cin alone, so with few
 * input channels (the UNet's and VAE's first convs) their K steps are mostly padding and direct is faster.
 */
export function preferredConvAlgorithm(cin: number, stride: 1 | 2): 'direct' | 'winograd' {
  return stride === 1 && cin >= 16 ? 'winograd' : 'direct';
}

/** [H̃, W̃]: the size of the input as the convolution sees it, after the fused upsampling. */
export function upsampledSize(h: number, w: number, upsample: Upsample): [number, number] {
  if (upsample === false) return [h, w];
  if (upsample === true) return [2 * h, 2 * w];
  const [hv, wv] = upsample;
  if ((hv !== 2 * h && hv !== 2 * h - 1) || (wv !== 2 * w && wv !== 2 * w - 1)) {
    throw new ShapeError(`conv2d: cannot upsample ${h}×${w} to ${hv}×${wv}: each side must become 2n or 2n − 1 (where nearest neighbours read pixel ⌊i/2⌋)`);
  }
  return [hv, wv];
}

/** [B, Ho, Wo] of a 3×3 convolution of a [B, H, W, ·] input. */
export function conv2dOutputSize(xShape: readonly number[], stride: 1 | 2, upsample: Upsample, padding: ConvPadding = 'symmetric'): [number, number, number] {
  const before = padding === 'symmetric' ? 1 : 0;
  const [b, h, w] = xShape as [number, number, number];
  const [hv, wv] = upsampledSize(h, w, upsample);
  return [b, Math.floor((hv + before - 2) / stride) + 1, Math.floor((wv + before - 2) / stride) + 1];
}

function checkF32(t: Tensor, what: string, shape: readonly number[]): void {
  if (t.format !== 'f32') throw new UnsupportedFormatError(`conv2d: ${what} ${t.label} must be f32, got ${t.format}`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`conv2d: ${what} ${t.label} is ${shapeString(t.shape)}, expected ${shapeString(shape)}`);
  }
}

/** WebGPU rejects a buffer bound for writing and for anything else in one dispatch: say which tensors collide. */
function checkNoAlias(outputs: readonly ResolvedOutput[], inputs: readonly (Tensor | undefined)[]): void {
  outputs.forEach((o, i) => {
    for (const t of [...inputs, ...outputs.slice(i + 1).map((r) => r.tensor)]) {
      if (t && t.buffer === o.tensor.buffer) {
        throw new ShapeError(`conv2d: output ${o.tensor.label} shares a buffer with ${t.label}; write into a separate tensor`);
      }
    }
  });
}

/**
 * Records the convolution; returns the tensor written (the whole tensor when `out` is a channel slice). The weight
 * decides the algorithm (see the file's header); `opts.algorithm` other than 'auto' asserts which one is expected.
 */
export function conv2d(ctx: GpuContext, x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const stride = opts.stride ?? 1;
  const upsample = opts.upsample ?? false;
  const padding = opts.padding ?? 'symmetric';
  const algorithm = opts.algorithm ?? 'auto';
  if (x.shape.length !== 4) throw new ShapeError(`conv2d: input ${x.label} must be NHWC [B, H, W, Cin], got ${shapeString(x.shape)}`);
  const [, h, wd, cin] = x.shape as [number, number, number, number];
  checkF32(x, 'input', x.shape);
  if (stride !== 1 && stride !== 2) throw new ShapeError(`conv2d: stride ${String(stride)} is not 1 or 2`);
  const kind = convWeightAlgorithm(w);
  const winograd = kind !== 'direct';
  if (algorithm !== 'auto' && algorithm !== kind) {
    const needs = { direct: 'a [Cout, 9·Cin] weight (convWeightMatrix + packWeight)', winograd: 'a [16, Cout, Cin] weight from winogradWeight(WINOGRAD.winograd, …)', winograd4: 'a [36, Cout, Cin] weight from winogradWeight(WINOGRAD.winograd4, …)' };
    throw new ShapeError(`conv2d: algorithm '${algorithm}' needs ${needs[algorithm]}, got the ${kind} weight ${w.label} ${shapeString(w.shape)}`);
  }
  if (winograd && (stride !== 1 || padding !== 'symmetric')) {
    throw new ShapeError(`conv2d: the Winograd weight ${w.label} serves stride 1 with symmetric padding only; load this layer with convWeightMatrix + packWeight`);
  }
  const cout = w.shape[winograd ? 1 : 0]!;
  const k = w.shape[winograd ? 2 : 1];
  if (w.shape.length !== (winograd ? 3 : 2) || k !== (winograd ? cin : 9 * cin)) {
    throw new ShapeError(`conv2d: weight ${w.label} ${shapeString(w.shape)} does not fit input ${x.label} ${shapeString(x.shape)} (Cin = ${cin})`);
  }
  const [hv, wv] = upsampledSize(h, wd, upsample);
  const outShape = [...conv2dOutputSize(x.shape, stride, upsample, padding), cout];
  if (outShape[1]! < 1 || outShape[2]! < 1) throw new ShapeError(`conv2d: input ${x.label} ${shapeString(x.shape)} is too small for a 3×3 window`);
  if (opts.bias) checkF32(opts.bias, 'bias', [cout]);
  if (opts.residual) checkF32(opts.residual, 'residual', outShape);
  const tuned =
    opts.tile ??
    ctx.tuning?.conv({ op: 'conv', format: w.format, algorithm: kind, batch: x.shape[0]!, h, w: wd, cin, cout, stride, upsample: upsample !== false, padding });
  const [, outH, outW] = outShape as [number, number, number, number];
  const side = kind === 'direct' ? 1 : WINOGRAD[kind].m;
  const rows = x.shape[0]! * Math.ceil(outH / side) * Math.ceil(outW / side);
  const tile = resolveTile(ctx, tuned ?? untunedConvTile(ctx.adapter, rows, cout));
  const out = resolveOutput(ctx, outShape, opts.out, 'conv2d');
  const skip = opts.skip && resolveOutput(ctx, outShape, opts.skip, 'conv2d skip');
  checkNoAlias(skip ? [out, skip] : [out], [x, w, opts.bias, opts.residual]);
  if (winograd) {
    const run = { bias: opts.bias, residual: opts.residual, upsample: upsample !== false, size: [hv, wv] as const, tile, out, skip, workspaceBytes: opts.workspaceBytes };
    if (kind === 'winograd4') winograd4Conv(ctx, x, w, run);
    else winogradConv(ctx, x, w, run);
    return out.tensor;
  }

  const { row } = weightInfo(w, 'conv2d');
  const [, ho, wo] = outShape as [number, number, number, number];
  const m = outShape[0]! * ho * wo;
  const mTiles = Math.ceil(m / tile.tile.tm);
  const bias = opts.bias !== undefined;
  const residual = opts.residual !== undefined;
  ctx.dispatch({
    op: 'conv2d',
    variant: `${w.format}/${tile.key}/${bias ? 'bias' : ''}/${residual ? 'residual' : ''}/${skip ? 'skip' : ''}`,
    code: () => preprocess(weightsWgsl + tile.wgsl + source, { ...weightDefines(w.format), BIAS: bias, RESIDUAL: residual, SKIP: skip !== undefined }),
    uniforms: uniforms([
      ['u32', h],
      ['u32', wd],
      ['u32', cin],
      ['u32', 9 * cin],
      ['u32', ho],
      ['u32', wo],
      ['u32', cout],
      ['u32', row],
      ['u32', m],
      ['u32', mTiles],
      ['u32', stride],
      ['u32', upsample === false ? 0 : 1],
      ['u32', padding === 'symmetric' ? 1 : 0],
      ['u32', out.channelStride],
      ['u32', out.channelOffset],
      ['u32', skip?.channelStride ?? 0],
      ['u32', skip?.channelOffset ?? 0],
      ['u32', hv],
      ['u32', wv],
    ]),
    bindings: [...weightBindings(w), x, opts.bias, opts.residual, out.tensor, skip?.tensor],
    workgroups: [...ctx.grid(mTiles), Math.ceil(cout / tile.tile.tn)],
  });
  return out.tensor;
}
