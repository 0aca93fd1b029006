/**
 * Winograd F(4×4, 3×3) convolution, stride 1, padding 1, with optional fused nearest upsampling of the input (to 2n
 * or 2n − 1 pixels a side, `run.size`; pixel i reads i >> 1):
 * the larger-tile Winograd path of `conv2d` (engine/ops/conv2d.ts), which validates the arguments and calls
 * `winograd4Conv` for a [36, Cout, Cin] weight.
 *
 * Each 4×4 output tile t is computed from the 6×6 input patch d_t whose top-left pixel is (4ty − 1, 4tx − 1), with
 * Lavin & Gray's matrices for the interpolation points 0, ±1, ±2, ∞:
 *
 *   U[co, ci] = G g[co, ci] Gᵀ                         (6×6, once on the CPU: `winograd4Transform`)
 *   V[t, ci]  = Bᵀ d_t[ci] B                          (6×6, pass 1: `shaders/winograd4-input.wgsl`)
 *   M[ξ, t, co] = Σ_ci V[ξ, t, ci] · U[ξ, co, ci]      (36 GEMMs, ξ = 6i + j: `shaders/winograd4.wgsl`)
 *   y_t[co]   = Aᵀ M[·, t, co] A + bias[co] + residual  (4×4, clipped at the output's edge: `winograd4-output.wgsl`)
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
 * Precision: f32 throughout, but the transforms scale by up to 5 (Bᵀ) and 8 (Aᵀ) and G's sixths and 24ths are not
 * exact in binary, so rounding grows: on SD-like values (unit activations, weights ~ N(0, 1/(9·Cin))) the result
 * is within 9e-6 (Cin 128) to 1.7e-5 (Cin 320) of the largest output against an f64 direct convolution, about 20×
 * F(2×2)'s error and 10× the f32 direct path's (tests/ops/winograd4.test.ts prints them and states the tolerance).
 */
import inputSource from '../../shaders/winograd4-input.wgsl?raw';
import gemmSource from '../../shaders/winograd4.wgsl?raw';
import outputSource from '../../shaders/winograd4-output.wgsl?raw';
import { uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { StorageFormat, Tensor } from '../gpu/tensor';
import { preprocess } from '../gpu/wgsl';
import { packWeight, rowWords } from '../quant/pack';
import { weightBindings, weightDefines, weightsWgsl } from './weights';
import { WINOGRAD_WORKSPACE_BYTES, type WinogradRun } from './winograd';

const WG = 256;

/** G of F(4×4, 3×3): rows are the interpolation points 0, −1, 1, −2, 2, ∞ (f64; rounded once, in U). */
const G4: readonly (readonly [number, number, number])[] = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];

/** U = G g Gᵀ for every (co, ci) of PyTorch's [Cout, Cin, 3, 3] weight, as [36, Cout, Cin] (ξ = 6i + j outermost). */
export function winograd4Transform(oihw: Float32Array, cout: number, cin: number): Float32Array {
  if (oihw.length !== cout * cin * 9) throw new ShapeError(`winograd4Transform: ${oihw.length} values for [${cout}, ${cin}, 3, 3]`);
  const u = new Float32Array(36 * cout * cin);
  const gg = new Float64Array(18);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const base = (co * cin + ci) * 9;
      // G g: 6×3.
      for (let i = 0; i < 6; i++) {
        const r = G4[i]!;
        for (let c = 0; c < 3; c++) gg[3 * i + c] = r[0] * oihw[base + c]! + r[1] * oihw[base + 3 + c]! + r[2] * oihw[base + 6 + c]!;
      }
      // (G g) Gᵀ: 6×6.
      for (let i = 0; i < 6; i++) {
        for (let j = 0; j < 6; j++) {
          const r = G4[j]!;
          u[((6 * i + j) * cout + co) * cin + ci] = gg[3 * i]! * r[0] + gg[3 * i + 1]! * r[1] + gg[3 * i + 2]! * r[2];
        }
      }
    }
  }
  return u;
}

/** A Winograd F(4×4) weight tensor [36, Cout, Cin] in `format`, from PyTorch's [Cout, Cin, 3, 3] weight. */
export function winograd4Weight(ctx: GpuContext, oihw: Float32Array, cout: number, cin: number, format: StorageFormat, label: string): Tensor {
  const packed = packWeight(winograd4Transform(oihw, cout, cin), 36 * cout, cin, format);
  return ctx.weight([36, cout, cin], format, packed.data, label, packed.scales);
}

/** F(4×4) weights are the only 3-D conv weights with 36 matrices: [36, Cout, Cin]. */
export function isWinograd4Weight(w: Tensor): boolean {
  return w.shape.length === 3 && w.shape[0] === 36;
}

/** Records the three F(4×4) passes for a validated conv2d call (x NHWC f32, u from `winograd4Weight`). */
export function winograd4Conv(ctx: GpuContext, x: Tensor, u: Tensor, run: WinogradRun): void {
  const [batch, h, w, cin] = x.shape as [number, number, number, number];
  const cout = u.shape[1]!;
  const up = run.upsample ? 1 : 0;
  const [ho, wo] = run.size;
  const tilesX = Math.ceil(wo / 4);
  const tilesPerImage = Math.ceil(ho / 4) * tilesX;
  const total = batch * tilesPerImage;
  const { tm, tn } = run.tile.tile;
  const budget = Math.min(run.workspaceBytes ?? WINOGRAD_WORKSPACE_BYTES, ctx.maxBindingBytes);
  const chunk = Math.min(total, Math.max(tm, Math.floor(budget / (36 * Math.max(cin, cout) * 4) / tm) * tm));
  const v = ctx.empty([36, chunk, cin], 'winograd4.v');
  const m = ctx.empty([36, chunk, cout], 'winograd4.m');
  const nTiles = Math.ceil(cout / tn);
  const bias = run.bias !== undefined;
  const residual = run.residual !== undefined;
  const skip = run.skip !== undefined;

  for (let t0 = 0; t0 < total; t0 += chunk) {
    const tiles = Math.min(chunk, total - t0);
    const mTiles = Math.ceil(tiles / tm);
    ctx.dispatch({
      op: 'winograd4-input',
      variant: '',
      code: () => inputSource,
      constants: { WG },
      uniforms: uniforms([
        ['u32', h],
        ['u32', w],
        ['u32', cin],
        ['u32', up],
        ['u32', tilesX],
        ['u32', tilesPerImage],
        ['u32', t0],
        ['u32', tiles],
        ['u32', ho],
        ['u32', wo],
      ]),
      bindings: [x, v],
      workgroups: ctx.grid(Math.ceil((tiles * cin) / WG)),
    });
    ctx.dispatch({
      op: 'winograd4',
      variant: `${u.format}/${run.tile.key}`,
      code: () => preprocess(weightsWgsl + run.tile.wgsl + gemmSource, weightDefines(u.format)),
      uniforms: uniforms([
        ['u32', cin],
        ['u32', cout],
        ['u32', tiles],
        ['u32', mTiles],
        ['u32', nTiles],
        ['u32', rowWords(u.format, cin)],
      ]),
      bindings: [...weightBindings(u), v, m],
      workgroups: [...ctx.grid(mTiles), 36 * nTiles],
    });
    ctx.dispatch({
      op: 'winograd4-output',
      variant: `${bias ? 'bias' : ''}/${residual ? 'residual' : ''}/${skip ? 'skip' : ''}`,
      code: () => preprocess(outputSource, { BIAS: bias, RESIDUAL: residual, SKIP: skip }),
      constants: { WG },
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
      bindings: [m, run.bias, run.residual, run.out.tensor, run.skip?.tensor],
      workgroups: ctx.grid(Math.ceil((tiles * cout) / WG)),
    });
  }
  ctx.release(v, m);
}
