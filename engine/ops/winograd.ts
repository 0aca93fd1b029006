/**
 * Winograd F(2×2, 3×3) convolution, stride 1, padding 1, with optional fused nearest upsampling of the input:
 * the Winograd path of `conv2d` (engine/ops/conv2d.ts), which validates the arguments and calls `winogradConv`.
 *
 * Each 2×2 output tile t is computed from the 4×4 input patch d_t whose top-left pixel is (2ty − 1, 2tx − 1):
 *
 *   U[co, ci] = G g[co, ci] Gᵀ                         (4×4, once on the CPU: `winogradTransform`)
 *   V[t, ci]  = Bᵀ d_t[ci] B                          (4×4, fused into the GEMM's input staging)
 *   M[ξ, t, co] = Σ_ci V[ξ, t, ci] · U[ξ, co, ci]      (16 GEMMs, ξ = 4i + j over the 4×4 domain)
 *   y_t[co]   = Aᵀ M[·, t, co] A + bias[co] + residual  (2×2, clipped where odd Ho, Wo leave the tile half outside)
 *
 *   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   Aᵀ = [1 1 1 0; 0 1 −1 −1]
 *
 * The GEMMs do 16·Cin·Cout multiplies per 4 output pixels instead of 36·Cin·Cout: 2.25× fewer.
 *
 * Layouts: x f32 NHWC [B, H, W, Cin]; the weight U is a [16, Cout, Cin] tensor stored as the [16·Cout, Cin] matrix
 * (row ξ·Cout + co) in any storage format of engine/quant/pack.ts, so int8 scales are per row of each of the 16
 * matrices and int4 blocks run along Cin; M is a pooled f32 [16, tiles, Cout] workspace. When M for all tiles
 * would exceed `workspaceBytes` the tiles are processed in chunks that reuse one workspace.
 *
 * Precision: f32 throughout. G's halves are exact in binary, so an f32 U carries only the rounding of its sums;
 * the transforms add and subtract up to 16 terms, so results differ from the direct path by a few ulps of the
 * largest intermediate, not of each output.
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

/** Default bound on the M workspace: large enough that SD's UNet convs run in one chunk at 512×512. */
export const WINOGRAD_WORKSPACE_BYTES = 32 * 1024 * 1024;

const OUTPUT_WG = 256;

/** U = G g Gᵀ for every (co, ci) of PyTorch's [Cout, Cin, 3, 3] weight, as [16, Cout, Cin] (ξ = 4i + j outermost). */
export function winogradTransform(oihw: Float32Array, cout: number, cin: number): Float32Array {
  if (oihw.length !== cout * cin * 9) throw new ShapeError(`winogradTransform: ${oihw.length} values for [${cout}, ${cin}, 3, 3]`);
  const u = new Float32Array(16 * cout * cin);
  const gg = new Float64Array(12);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const g = (r: number, c: number) => oihw[((co * cin + ci) * 3 + r) * 3 + c]!;
      for (let c = 0; c < 3; c++) {
        gg[c] = g(0, c);
        gg[3 + c] = (g(0, c) + g(1, c) + g(2, c)) / 2;
        gg[6 + c] = (g(0, c) - g(1, c) + g(2, c)) / 2;
        gg[9 + c] = g(2, c);
      }
      for (let i = 0; i < 4; i++) {
        const [a0, a1, a2] = [gg[3 * i]!, gg[3 * i + 1]!, gg[3 * i + 2]!];
        const row = [a0, (a0 + a1 + a2) / 2, (a0 - a1 + a2) / 2, a2];
        for (let j = 0; j < 4; j++) u[((4 * i + j) * cout + co) * cin + ci] = row[j]!;
      }
    }
  }
  return u;
}

/** A Winograd weight tensor [16, Cout, Cin] in `format`, from PyTorch's [Cout, Cin, 3, 3] weight. */
export function winogradWeight(ctx: GpuContext, oihw: Float32Array, cout: number, cin: number, format: StorageFormat, label: string): Tensor {
  const packed = packWeight(winogradTransform(oihw, cout, cin), 16 * cout, cin, format);
  return ctx.weight([16, cout, cin], format, packed.data, label, packed.scales);
}

/** Winograd weights are the only 3-D conv weights: [16, Cout, Cin]. */
export function isWinogradWeight(w: Tensor): boolean {
  return w.shape.length === 3 && w.shape[0] === 16;
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

/** Records the Winograd passes for a validated conv2d call (x NHWC f32, u from `winogradWeight`). */
export function winogradConv(ctx: GpuContext, x: Tensor, u: Tensor, run: WinogradRun): void {
  const [batch, h, w, cin] = x.shape as [number, number, number, number];
  const cout = u.shape[1]!;
  const up = run.upsample ? 1 : 0;
  const [ho, wo] = run.size;
  const tilesX = Math.ceil(wo / 2);
  const tilesPerImage = Math.ceil(ho / 2) * tilesX;
  const total = batch * tilesPerImage;
  const { tm, tn } = run.tile.tile;
  const budget = Math.min(run.workspaceBytes ?? WINOGRAD_WORKSPACE_BYTES, ctx.maxBindingBytes);
  const chunk = Math.min(total, Math.max(tm, Math.floor(budget / (16 * cout * 4) / tm) * tm));
  const workspace = ctx.empty([16, chunk, cout], 'winograd.m');
  const nTiles = Math.ceil(cout / tn);
  const bias = run.bias !== undefined;
  const residual = run.residual !== undefined;
  const skip = run.skip !== undefined;

  for (let t0 = 0; t0 < total; t0 += chunk) {
    const tiles = Math.min(chunk, total - t0);
    const mTiles = Math.ceil(tiles / tm);
    ctx.dispatch({
      op: 'winograd',
      variant: `${u.format}/${run.tile.key}`,
      code: () => preprocess(weightsWgsl + run.tile.wgsl + gemmSource, weightDefines(u.format)),
      uniforms: uniforms([
        ['u32', h],
        ['u32', w],
        ['u32', cin],
        ['u32', cout],
        ['u32', up],
        ['u32', tilesX],
        ['u32', tilesPerImage],
        ['u32', t0],
        ['u32', tiles],
        ['u32', mTiles],
        ['u32', nTiles],
        ['u32', rowWords(u.format, cin)],
        ['u32', ho],
        ['u32', wo],
      ]),
      bindings: [...weightBindings(u), x, workspace],
      workgroups: [...ctx.grid(mTiles), 16 * nTiles],
    });
    ctx.dispatch({
      op: 'winograd-output',
      variant: `${bias ? 'bias' : ''}/${residual ? 'residual' : ''}/${skip ? 'skip' : ''}`,
      code: () => preprocess(outputSource, { BIAS: bias, RESIDUAL: residual, SKIP: skip }),
      constants: { WG: OUTPUT_WG },
      uniforms: uniforms([
        ['u32', ho],
        ['u32', wo],
        ['u32', cout],
        ['u32', tilesX],
        ['u32', tilesPerImage],
        ['u32', t0],
        ['u32', tiles],
        ['u32', run.out.channelStride],
        ['u32', run.out.channelOffset],
        ['u32', run.skip?.channelStride ?? 0],
        ['u32', run.skip?.channelOffset ?? 0],
      ]),
      bindings: [workspace, run.bias, run.residual, run.out.tensor, run.skip?.tensor],
      workgroups: ctx.grid(Math.ceil((tiles * cout) / OUTPUT_WG)),
    });
  }
  ctx.release(workspace);
}
