/**
 * The cases tests/ops/winograd.test.ts (F(2×2, 3×3)) and tests/ops/winograd4.test.ts (F(4×4, 3×3)) run alike: each
 * file calls `winogradCases` inside its describe with its variant, its tolerance and the shapes it covers, and adds
 * the tests only its variant has.
 */
import { expect, it } from 'vitest';
import { conv2d, type Conv2dOptions, type ConvTile } from '../../engine/ops/conv2d';
import { STORAGE_FORMATS } from '../../engine/gpu/tensor';
import { winogradMatrices, winogradTransform, winogradWeight, type WinogradVariant } from '../../engine/ops/winograd-common';
import { dequantize, packWeight } from '../../engine/quant/pack';
import * as ref from '../../engine/ref/conv2d';
import type { WinogradRefOptions } from '../../engine/ref/winograd';
import { convCaseData, count, outShape, type ConvCase, type Shape } from './conv-cases';
import { expectClose, gpuContext, randomArray, sliceOf } from './gpu';

export interface WinogradCases {
  variant: WinogradVariant;
  /** The CPU reference of the same algorithm (engine/ref/winograd*.ts). */
  reference(x: Float32Array, shape: ref.Nhwc, u: Float32Array, cout: number, opts?: WinogradRefOptions): Float32Array;
  /** GPU against the CPU reference of the same algorithm (each file says how it was measured). */
  tol: number;
  /** The CPU reference of U = G g Gᵀ against the direct convolution of g: [input, Cout, upsample]. */
  transformCases: readonly (readonly [Shape, number, Conv2dOptions['upsample']])[];
  /** f32 U with bias: [input, Cout]. */
  f32Shapes: readonly (readonly [Shape, number])[];
  /** Upsampling to odd sizes, with bias and residual: [input, Cout, size]. */
  upsampleCases: readonly (readonly [Shape, number, readonly [number, number]])[];
  /** A workspace budget small enough that the tiles run in several chunks (TM = 32, Cout 12). */
  chunked: { shape: Shape; workspaceBytes: number };
  /** Conv tiles to run (each compiles its own pipeline: seconds on SwiftShader), and the test's title. */
  tiles: { title: string; list: readonly ConvTile[] };
}

/** The conv of a case on the GPU by `s.variant`, and its CPU reference on the U values the kernel sees. */
async function run(s: WinogradCases, c: ConvCase, seed: number): Promise<[Float32Array, Float32Array]> {
  const n = winogradMatrices(s.variant);
  const ctx = await gpuContext();
  const [, , , cin] = c.shape;
  const { x, oihw, bias, residual } = convCaseData(c, seed);
  const format = c.format ?? 'f32';
  const u = winogradWeight(s.variant, ctx, oihw, c.cout, cin, format, 'u');
  expect(u.shape).toEqual([n, c.cout, cin]);
  const y = conv2d(ctx, ctx.upload(x, c.shape, 'x'), u, {
    upsample: c.upsample,
    bias: bias && ctx.upload(bias, [c.cout], 'bias'),
    residual: residual && ctx.upload(residual, outShape(c), 'residual'),
    tile: c.tile,
    algorithm: s.variant.op,
    workspaceBytes: c.workspaceBytes,
  });
  expect(y.shape).toEqual(outShape(c));
  const gpu = await ctx.read(y);
  ctx.destroyWeight(u);
  const seen = dequantize(packWeight(winogradTransform(s.variant, oihw, c.cout, cin), n * c.cout, cin, format));
  return [gpu, s.reference(x, c.shape, seen, c.cout, { upsample: c.upsample, bias, residual })];
}

/** Registers the shared tests; call inside the file's describe. */
export function winogradCases(s: WinogradCases): void {
  it('transform: the CPU Winograd convolution of U = G g Gᵀ equals the direct convolution of g', () => {
    for (const [shape, cout, upsample] of s.transformCases) {
      const oihw = randomArray(cout * shape[3] * 9, 1);
      const x = randomArray(count(shape), 2);
      const bias = randomArray(cout, 3);
      const u = winogradTransform(s.variant, oihw, cout, shape[3]);
      const direct = ref.conv3x3(x, shape, oihw, cout, { weightLayout: 'oihw', upsample, bias });
      expectClose(s.reference(x, shape, u, cout, { upsample, bias }), direct, 1e-6, `${shape}`);
    }
  });

  for (const [shape, cout] of s.f32Shapes) {
    it(`f32 ${shape} → ${cout}, bias`, async () => {
      const [gpu, expected] = await run(s, { shape, cout, bias: true }, 10);
      expectClose(gpu, expected, s.tol);
    });
  }

  for (const format of STORAGE_FORMATS) {
    it(`${format} U, odd sizes, Cin not a multiple of 4 or 32`, async () => {
      const [gpu, expected] = await run(s, { shape: [2, 7, 5, 35], cout: 12, bias: true, residual: true, format }, 20);
      expectClose(gpu, expected, s.tol, format);
    });
  }

  it('fuses 2× nearest upsampling, with bias and residual', async () => {
    const [gpu, expected] = await run(s, { shape: [2, 5, 3, 6], cout: 9, upsample: true, bias: true, residual: true }, 30);
    expectClose(gpu, expected, s.tol);
  });

  it('upsamples to odd sizes (diffusers upsample_size), with bias and residual', async () => {
    for (const [shape, cout, upsample] of s.upsampleCases) {
      const [gpu, expected] = await run(s, { shape, cout, upsample, bias: true, residual: true }, 35);
      expectClose(gpu, expected, s.tol, `${shape} → ${upsample}`);
    }
  });

  it('splits the tiles into chunks when the workspace is small', async () => {
    const tile = { tm: 32, tn: 32, tk: 16, rm: 4 };
    const [gpu, expected] = await run(s, { ...s.chunked, cout: 12, bias: true, residual: true, tile }, 40);
    expectClose(gpu, expected, s.tol);
  });

  it(s.tiles.title, async () => {
    for (const tile of s.tiles.list) {
      const [gpu, expected] = await run(s, { shape: [1, 11, 9, 20], cout: 36, bias: true, tile }, 50);
      expectClose(gpu, expected, s.tol, JSON.stringify(tile));
    }
  });

  it('writes into a channel slice, and a copy into a skip slice, leaving the other channels untouched', async () => {
    const ctx = await gpuContext();
    const shape: Shape = [1, 7, 9, 8];
    const cout = 6;
    const x = randomArray(count(shape), 70);
    const oihw = randomArray(cout * 8 * 9, 71);
    const u = winogradWeight(s.variant, ctx, oihw, cout, 8, 'f32', 'u');
    const before = randomArray(7 * 9 * 11, 72);
    const beforeSkip = randomArray(7 * 9 * 8, 73);
    const joined = ctx.upload(before, [1, 7, 9, 11], 'joined');
    const skip = ctx.upload(beforeSkip, [1, 7, 9, 8], 'skip');
    conv2d(ctx, ctx.upload(x, shape, 'x'), u, { out: { tensor: joined, offset: 5 }, skip: { tensor: skip, offset: 0 } });
    const expected = s.reference(x, shape, winogradTransform(s.variant, oihw, cout, 8), cout);
    expectClose(sliceOf(await ctx.read(joined), before, 11, 5, cout), expected, s.tol, 'out');
    expectClose(sliceOf(await ctx.read(skip), beforeSkip, 8, 0, cout), expected, s.tol, 'skip');
    ctx.destroyWeight(u);
  });
}
