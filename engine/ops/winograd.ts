/**
 * Winograd F(2×2, 3×3) convolution, stride 1, padding 1, with optional fused nearest upsampling of the input:
 * the Winograd path of `conv2d` (engine/ops/conv2d.ts), which validates the arguments and calls `winogradConv`.
 *
 * Each 2×2 output tile t is computed from the 4×4 input patch d_t whose top-left pixel is (2ty − 1, 2tx − 1):
 *
 *   U[co, ci] = G g[co, ci] Gᵀ                         (4×4, once on the CPU: `winogradTransform(WINOGRAD_F2, …)`)
 *   V[t, ci]  = Bᵀ d_t[ci] B                          (4×4, fused into the GEMM's input staging)
 *   M[ξ, t, co] = Σ_ci V[ξ, t, ci] · U[ξ, co, ci]      (16 GEMMs, ξ = 4i + j over the 4×4 domain)
 *   y_t[co]   = Aᵀ M[·, t, co] A + bias[co] + residual  (2×2, clipped where odd Ho, Wo leave the tile half outside)
 *
 * The weight transform, tile grid, workspace chunking, GEMM and output passes are shared with F(4×4, 3×3)
 * (engine/ops/winograd-common.ts, shaders/winograd.wgsl and winograd-output.wgsl); this file holds F(2×2)'s G.
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
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { winogradGemmPass, winogradGrid, winogradOutputPass, type WinogradRun, type WinogradVariant } from './winograd-common';

/** F(2×2, 3×3): G's rows are the interpolation points 0, 1, −1, ∞. */
export const WINOGRAD_F2: WinogradVariant = {
  m: 2,
  g: [
    [1, 0, 0],
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 2, -1 / 2, 1 / 2],
    [0, 0, 1],
  ],
  op: 'winograd',
};

/** Records the Winograd passes for a validated conv2d call (x NHWC f32, u from `winogradWeight(WINOGRAD_F2, …)`). */
export function winogradConv(ctx: GpuContext, x: Tensor, u: Tensor, run: WinogradRun): void {
  const grid = winogradGrid(WINOGRAD_F2, ctx, x, u, run, u.shape[1]!);
  const workspace = ctx.empty([16, grid.chunk, grid.cout], 'winograd.m');
  for (const chunk of grid.chunks) {
    winogradGemmPass(WINOGRAD_F2, ctx, grid, run, u, x, workspace, chunk);
    winogradOutputPass(WINOGRAD_F2, ctx, grid, run, workspace, chunk);
  }
  ctx.release(workspace);
}
