/**
 * Winograd F(4×4, 3×3) convolution, stride 1, padding 1, with optional fused nearest upsampling of the input (to 2n
 * or 2n − 1 pixels a side, `run.size`; pixel i reads i >> 1):
 * the larger-tile Winograd path of `conv2d` (engine/ops/conv2d.ts), which validates the arguments and calls
 * `winograd4Conv` for a [36, Cout, Cin] weight.
 *
 * Each 4×4 output tile t is computed from the 6×6 input patch d_t whose top-left pixel is (4ty − 1, 4tx − 1), with
 * Lavin & Gray's matrices for the interpolation points 0, ±1, ±2, ∞:
 *
 *   U[co, ci] = G g[co, ci] Gᵀ                         (6×6, once on the CPU: `winogradTransform(WINOGRAD_F4, …)`)
 *   V[t, ci]  = Bᵀ d_t[ci] B                          (6×6, pass 1: `shaders/winograd4-input.wgsl`)
 *   M[ξ, t, co] = Σ_ci V[ξ, t, ci] · U[ξ, co, ci]      (36 GEMMs, ξ = 6i + j: `shaders/winograd.wgsl`)
 *   y_t[co]   = Aᵀ M[·, t, co] A + bias[co] + residual  (4×4, clipped at the output's edge: `winograd-output.wgsl`)
 *
 *   G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1]
 *   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
 *   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
 *
 * The GEMMs do 36·Cin·Cout multiplies per 16 output pixels instead of 144·Cin·Cout: 4× fewer (F(2×2)'s 2.25×).
 * Unlike F(2×2), whose Bᵀ rows have two ±1 entries so the input transform is fused into the GEMM's staging (4 loads
 * per staged value), a row of this Bᵀ has up to four entries up to 5: fused, every staged value would cost 16 loads
 * in each of the 36 × ⌈Cout/TN⌉ workgroup columns, so V goes through memory instead (2.25× the input's size).
 *
 * Layouts: x f32 NHWC [B, H, W, Cin]; the weight U is a [36, Cout, Cin] tensor stored as the [36·Cout, Cin] matrix
 * (row ξ·Cout + co) in any storage format of engine/quant/pack.ts (shape[0] = 36 tells it from F(2×2)'s 16); V is a
 * pooled f32 [36, tiles, Cin] and M a pooled f32 [36, tiles, Cout] workspace. When either would exceed
 * `workspaceBytes` for all tiles, the tiles are processed in chunks that reuse them.
 *
 * The weight transform, tile grid, workspace chunking, GEMM and output passes are shared with F(2×2)
 * (engine/ops/winograd-common.ts); this file holds F(4×4)'s G and its input pass.
 *
 * Precision: f32 throughout, but the transforms scale by up to 5 (Bᵀ) and 8 (Aᵀ) and G's sixths and 24ths are not
 * exact in binary, so rounding grows: on SD-like values (unit activations, weights ~ N(0, 1/(9·Cin))) the result
 * is within 9e-6 (Cin 128) to 1.7e-5 (Cin 320) of the largest output against an f64 direct convolution, about 20×
 * F(2×2)'s error and 10× the f32 direct path's (tests/ops/winograd4.test.ts prints them and states the tolerance).
 */
import inputSource from '../../shaders/winograd4-input.wgsl?raw';
import { uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { winogradGemmPass, winogradGrid, winogradOutputPass, type WinogradRun, type WinogradVariant } from './winograd-common';

const WG = 256;

/** F(4×4, 3×3): G's rows are the interpolation points 0, −1, 1, −2, 2, ∞. */
export const WINOGRAD_F4: WinogradVariant = {
  m: 4,
  g: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  op: 'winograd4',
};

/** Records the three F(4×4) passes for a validated conv2d call (x NHWC f32, u from `winogradWeight(WINOGRAD_F4, …)`). */
export function winograd4Conv(ctx: GpuContext, x: Tensor, u: Tensor, run: WinogradRun): void {
  const cin = x.shape[3]!;
  const cout = u.shape[1]!;
  const grid = winogradGrid(WINOGRAD_F4, ctx, x, u, run, Math.max(cin, cout));
  const v = ctx.empty([36, grid.chunk, cin], 'winograd4.v');
  const m = ctx.empty([36, grid.chunk, cout], 'winograd4.m');
  for (const chunk of grid.chunks) {
    const { t0, tiles } = chunk;
    ctx.dispatch({
      op: 'winograd4-input',
      variant: '',
      code: () => inputSource,
      constants: { WG },
      uniforms: uniforms([
        ['u32', grid.h],
        ['u32', grid.w],
        ['u32', cin],
        ['u32', grid.up],
        ['u32', grid.tilesX],
        ['u32', grid.tilesPerImage],
        ['u32', t0],
        ['u32', tiles],
        ['u32', grid.ho],
        ['u32', grid.wo],
      ]),
      bindings: [x, v],
      workgroups: ctx.grid(Math.ceil((tiles * cin) / WG)),
    });
    winogradGemmPass(WINOGRAD_F4, ctx, grid, run, u, v, m, chunk);
    winogradOutputPass(WINOGRAD_F4, ctx, grid, run, m, chunk);
  }
  ctx.release(v, m);
}
