/**
 * What the two Winograd paths of `conv2d` do alike, F(2×2, 3×3) (engine/ops/winograd.ts) and F(4×4, 3×3)
 * (engine/ops/winograd4.ts), for an output tile of m × m pixels and an input patch of α × α, α = m + 2:
 *
 *   U[co, ci] = G g[co, ci] Gᵀ                         (α×α, once on the CPU: `winogradTransform`)
 *   M[ξ, t, co] = Σ_ci V[ξ, t, ci] · U[ξ, co, ci]      (α² GEMMs: `winogradGemmPass`)
 *   y_t[co]   = Aᵀ M[·, t, co] A + bias[co] + residual  (m×m, clipped at the output's edge: `winogradOutputPass`)
 *
 * and between them the tile grid over the output, its chunking into workspaces of at most `workspaceBytes`, and the
 * weight's layout: a [α², Cout, Cin] tensor stored as the [α²·Cout, Cin] matrix (row ξ·Cout + co, ξ = α·i + j) in
 * any storage format of engine/quant/pack.ts, so shape[0] (16 or 36) tells the two apart. How V = Bᵀ d B reaches
 * the GEMMs differs (fused into F(2×2)'s staging, a pass of its own for F(4×4)): the op's file says which.
 *
 * Precision: G is applied in f64 and U rounded once to f32. The shaders (shaders/winograd.wgsl, winograd-output.wgsl)
 * keep each m's own arithmetic for V and Aᵀ M A behind the F4 define, so sharing the rest changes no result.
 */
import gemmSource from '../../shaders/winograd.wgsl?raw';
import outputSource from '../../shaders/winograd-output.wgsl?raw';
import { uniforms, type GpuContext, type ResolvedOutput } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { StorageFormat, Tensor } from '../gpu/tensor';
import { preprocess } from '../gpu/wgsl';
import { packWeight, rowWords } from '../quant/pack';
import type { ResolvedTile } from './conv2d';
import { weightBindings, weightDefines, weightsWgsl } from './weights';

/** Default bound on each workspace: large enough that SD's UNet convs run in one chunk at 512×512. */
export const WINOGRAD_WORKSPACE_BYTES = 32 * 1024 * 1024;

const OUTPUT_WG = 256;

/** One Winograd algorithm F(m×m, 3×3), as its op declares it (WINOGRAD_F2, WINOGRAD_F4). */
export interface WinogradVariant {
  /** Output pixels per tile side. */
  m: 2 | 4;
  /** G, (m + 2) × 3 (f64; rounded once, in U). */
  g: readonly (readonly [number, number, number])[];
  /** conv2d's name for the algorithm, which also names the GEMM pass's dispatches and the output pass's (`${op}-output`). */
  op: 'winograd' | 'winograd4';
}

/** α²: the number of transformed matrices, the weight's shape[0]. */
export function winogradMatrices(v: WinogradVariant): number {
  return (v.m + 2) ** 2;
}

/** U = G g Gᵀ for every (co, ci) of PyTorch's [Cout, Cin, 3, 3] weight, as [α², Cout, Cin] (ξ = α·i + j outermost). */
export function winogradTransform(v: WinogradVariant, oihw: Float32Array, cout: number, cin: number): Float32Array {
  if (oihw.length !== cout * cin * 9) throw new ShapeError(`winogradTransform F(${v.m}×${v.m}): ${oihw.length} values for [${cout}, ${cin}, 3, 3]`);
  const alpha = v.m + 2;
  const u = new Float32Array(alpha * alpha * cout * cin);
  const gg = new Float64Array(3 * alpha);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const base = (co * cin + ci) * 9;
      // G g: α×3.
      for (let i = 0; i < alpha; i++) {
        const r = v.g[i]!;
        for (let c = 0; c < 3; c++) gg[3 * i + c] = r[0] * oihw[base + c]! + r[1] * oihw[base + 3 + c]! + r[2] * oihw[base + 6 + c]!;
      }
      // (G g) Gᵀ: α×α.
      for (let i = 0; i < alpha; i++) {
        for (let j = 0; j < alpha; j++) {
          const r = v.g[j]!;
          u[((alpha * i + j) * cout + co) * cin + ci] = gg[3 * i]! * r[0] + gg[3 * i + 1]! * r[1] + gg[3 * i + 2]! * r[2];
        }
      }
    }
  }
  return u;
}

/** A Winograd weight tensor [α², Cout, Cin] in `format`, from PyTorch's [Cout, Cin, 3, 3] weight. */
export function winogradWeight(v: WinogradVariant, ctx: GpuContext, oihw: Float32Array, cout: number, cin: number, format: StorageFormat, label: string): Tensor {
  const n = winogradMatrices(v);
  const packed = packWeight(winogradTransform(v, oihw, cout, cin), n * cout, cin, format);
  return ctx.weight([n, cout, cin], format, packed.data, label, packed.scales);
}

/** Winograd weights are the only 3-D conv weights; shape[0] = α² tells which variant. */
export function isWinogradWeight(v: WinogradVariant, w: Tensor): boolean {
  return w.shape.length === 3 && w.shape[0] === winogradMatrices(v);
}

export interface WinogradRun {
  bias?: Tensor;
  residual?: Tensor;
  upsample: boolean;
  /** [H̃, W̃]: the input's size as the convolution sees it (upsampled), which is the output's. */
  size: readonly [number, number];
  tile: ResolvedTile;
  out: ResolvedOutput;
  skip?: ResolvedOutput;
  workspaceBytes?: number;
}

/** A chunk of consecutive tiles that one set of workspaces holds. */
export interface WinogradChunk {
  /** First tile (over the whole batch: image-major, then rows, then columns). */
  t0: number;
  tiles: number;
  /** ⌈tiles / TM⌉: the GEMM's workgroup rows. */
  mTiles: number;
}

/** The tile grid of a validated conv2d call and its chunks. */
export interface WinogradGrid {
  batch: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  /** 1 when the conv sees x upsampled. */
  up: number;
  ho: number;
  wo: number;
  tilesX: number;
  tilesPerImage: number;
  /** Tiles per chunk: the first dimension of each [α², chunk, C] workspace. */
  chunk: number;
  /** ⌈Cout / TN⌉: the GEMM's workgroup columns per ξ. */
  nTiles: number;
  chunks: WinogradChunk[];
}

/**
 * The grid of m × m tiles over the output of x convolved with u, chunked so that a [α², chunk, `channels`] f32
 * workspace stays within `run.workspaceBytes` and the device's binding limit (chunks are whole TM blocks, at least one).
 */
export function winogradGrid(v: WinogradVariant, ctx: GpuContext, x: Tensor, u: Tensor, run: WinogradRun, channels: number): WinogradGrid {
  const [batch, h, w, cin] = x.shape as [number, number, number, number];
  const cout = u.shape[1]!;
  const [ho, wo] = run.size;
  const tilesX = Math.ceil(wo / v.m);
  const tilesPerImage = Math.ceil(ho / v.m) * tilesX;
  const total = batch * tilesPerImage;
  const { tm, tn } = run.tile.tile;
  const budget = Math.min(run.workspaceBytes ?? WINOGRAD_WORKSPACE_BYTES, ctx.maxBindingBytes);
  const chunk = Math.min(total, Math.max(tm, Math.floor(budget / (winogradMatrices(v) * channels * 4) / tm) * tm));
  const chunks: WinogradChunk[] = [];
  for (let t0 = 0; t0 < total; t0 += chunk) {
    const tiles = Math.min(chunk, total - t0);
    chunks.push({ t0, tiles, mTiles: Math.ceil(tiles / tm) });
  }
  return { batch, h, w, cin, cout, up: run.upsample ? 1 : 0, ho, wo, tilesX, tilesPerImage, chunk, nTiles: Math.ceil(cout / tn), chunks };
}

/**
 * Records the α² GEMMs M = V · Uᵀ for one chunk into m [α², chunk, Cout]: `src` is x itself for F(2×2) (the
 * input transform is fused into the staging), pass 1's V [α², chunk, Cin] for F(4×4) (shaders/winograd.wgsl).
 */
export function winogradGemmPass(v: WinogradVariant, ctx: GpuContext, grid: WinogradGrid, run: WinogradRun, u: Tensor, src: Tensor, m: Tensor, chunk: WinogradChunk): void {
  const { t0, tiles, mTiles } = chunk;
  ctx.dispatch({
    op: v.op,
    variant: `${u.format}/${run.tile.key}`,
    code: () => preprocess(weightsWgsl + run.tile.wgsl + gemmSource, { ...weightDefines(u.format), F4: v.m === 4 }),
    uniforms: uniforms([
      ['u32', grid.h],
      ['u32', grid.w],
      ['u32', grid.cin],
      ['u32', grid.cout],
      ['u32', grid.up],
      ['u32', grid.tilesX],
      ['u32', grid.tilesPerImage],
      ['u32', t0],
      ['u32', tiles],
      ['u32', mTiles],
      ['u32', grid.nTiles],
      ['u32', rowWords(u.format, grid.cin)],
      ['u32', grid.ho],
      ['u32', grid.wo],
    ]),
    bindings: [...weightBindings(u), src, m],
    workgroups: [...ctx.grid(mTiles), winogradMatrices(v) * grid.nTiles],
  });
}

/** Records the output pass y = Aᵀ M A + epilogue for one chunk, from the GEMMs' M [α², chunk, Cout]. */
export function winogradOutputPass(v: WinogradVariant, ctx: GpuContext, grid: WinogradGrid, run: WinogradRun, m: Tensor, { t0, tiles }: WinogradChunk): void {
  const bias = run.bias !== undefined;
  const residual = run.residual !== undefined;
  const skip = run.skip !== undefined;
  ctx.dispatch({
    op: `${v.op}-output`,
    variant: `${bias ? 'bias' : ''}/${residual ? 'residual' : ''}/${skip ? 'skip' : ''}`,
    code: () => preprocess(outputSource, { F4: v.m === 4, BIAS: bias, RESIDUAL: residual, SKIP: skip }),
    constants: { WG: OUTPUT_WG },
    uniforms: uniforms([
      ['u32', grid.ho],
      ['u32', grid.wo],
      ['u32', grid.cout],
      ['u32', grid.tilesX],
      ['u32', grid.tilesPerImage],
      ['u32', t0],
      ['u32', tiles],
      ['u32', run.out.channelStride],
      ['u32', run.out.channelOffset],
      ['u32', run.skip?.channelStride ?? 0],
      ['u32', run.skip?.channelOffset ?? 0],
    ]),
    bindings: [m, run.bias, run.residual, run.out.tensor, run.skip?.tensor],
    workgroups: ctx.grid(Math.ceil((tiles * grid.cout) / OUTPUT_WG)),
  });
}
