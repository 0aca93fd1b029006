import { describe, expect, it } from 'vitest';
import { CONV_TILE_CANDIDATES, conv2d, convWeightMatrix, type Conv2dOptions } from '../../engine/ops/conv2d';
import { winogradTransform, winogradWeight } from '../../engine/ops/winograd';
import * as ref from '../../engine/ref/conv2d';
import { STORAGE_FORMATS, type StorageFormat } from '../../engine/gpu/tensor';
import { dequantize, packWeight } from '../../engine/quant/pack';
import { expectClose, gpuContext, randomArray, sliceOf } from '../helpers/gpu';

// f32 GEMMs over Cin plus transforms that add up to 16 terms: ~1e-6 relative to the f64 reference in practice;
// 1e-4 leaves room. Quantised U is compared against the Winograd reference run on the dequantised U, so every
// storage format holds the same tolerance.
const TOL = 1e-4;

type Shape = [number, number, number, number];

interface Case {
  shape: Shape;
  cout: number;
  upsample?: Conv2dOptions['upsample'];
  bias?: boolean;
  residual?: boolean;
  format?: StorageFormat;
  tile?: Conv2dOptions['tile'];
  workspaceBytes?: number;
}

const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function outShape({ shape: [b, h, w], cout, upsample = false }: Case): Shape {
  const [hv, wv] = upsample === true ? [2 * h, 2 * w] : upsample === false ? [h, w] : upsample;
  return [b, hv, wv, cout];
}

/** The Winograd conv of a case on the GPU, and the CPU Winograd reference on the U values the kernel sees. */
async function runWinograd(c: Case, seed: number): Promise<[Float32Array, Float32Array]> {
  const ctx = await gpuContext();
  const [, , , cin] = c.shape;
  const x = randomArray(count(c.shape), seed);
  const oihw = randomArray(c.cout * cin * 9, seed + 1, 0.5);
  const bias = c.bias ? randomArray(c.cout, seed + 2) : undefined;
  const residual = c.residual ? randomArray(count(outShape(c)), seed + 3) : undefined;
  const format = c.format ?? 'f32';
  const u = winogradWeight(ctx, oihw, c.cout, cin, format, 'u');
  const y = conv2d(ctx, ctx.upload(x, c.shape, 'x'), u, {
    upsample: c.upsample,
    bias: bias && ctx.upload(bias, [c.cout], 'bias'),
    residual: residual && ctx.upload(residual, outShape(c), 'residual'),
    tile: c.tile,
    algorithm: 'winograd',
    workspaceBytes: c.workspaceBytes,
  });
  expect(y.shape).toEqual(outShape(c));
  const gpu = await ctx.read(y);
  ctx.destroyWeight(u);
  const seen = dequantize(packWeight(winogradTransform(oihw, c.cout, cin), 16 * c.cout, cin, format));
  return [gpu, ref.conv3x3Winograd(x, c.shape, seen, c.cout, { upsample: c.upsample, bias, residual })];
}

describe('winograd F(2×2, 3×3)', () => {
  it('transform: the CPU Winograd convolution of U = G g Gᵀ equals the direct convolution of g', () => {
    for (const [shape, cout, upsample] of [
      [[1, 5, 7, 3], 4, false],
      [[2, 4, 3, 5], 6, true],
      [[1, 4, 3, 5], 6, [7, 5]],
    ] as const) {
      const oihw = randomArray(cout * shape[3] * 9, 1);
      const x = randomArray(count(shape), 2);
      const bias = randomArray(cout, 3);
      const u = winogradTransform(oihw, cout, shape[3]);
      const direct = ref.conv3x3(x, shape, oihw, cout, { weightLayout: 'oihw', upsample, bias });
      expectClose(ref.conv3x3Winograd(x, shape, u, cout, { upsample, bias }), direct, 1e-6, `${shape}`);
    }
  });

  it('transform: U of a single tap is its outer product G[:, ky] G[:, kx]', () => {
    const g = new Float32Array(9);
    g[1 * 3 + 2] = 1; // ky = 1, kx = 2
    const u = winogradTransform(g, 1, 1);
    const G = [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ];
    // + 0 turns -0 into 0: the sign of a zero product is not part of the contract.
    expect(Array.from(u, (v) => v + 0)).toEqual(Array.from({ length: 16 }, (_, xi) => G[xi >> 2]![1]! * G[xi & 3]![2]! + 0));
  });

  const shapes: [Shape, number][] = [
    [[1, 5, 7, 3], 4],
    [[2, 9, 6, 16], 24],
    [[1, 16, 16, 32], 40],
  ];
  for (const [shape, cout] of shapes) {
    it(`f32 ${shape} → ${cout}, bias`, async () => {
      const [gpu, expected] = await runWinograd({ shape, cout, bias: true }, 10);
      expectClose(gpu, expected, TOL);
    });
  }

  for (const format of STORAGE_FORMATS) {
    it(`${format} U, odd sizes, Cin not a multiple of 4 or 32`, async () => {
      const [gpu, expected] = await runWinograd({ shape: [2, 7, 5, 35], cout: 12, bias: true, residual: true, format }, 20);
      expectClose(gpu, expected, TOL, format);
    });
  }

  it('fuses 2× nearest upsampling, with bias and residual', async () => {
    const [gpu, expected] = await runWinograd({ shape: [2, 5, 3, 6], cout: 9, upsample: true, bias: true, residual: true }, 30);
    expectClose(gpu, expected, TOL);
  });

  it('upsamples to odd sizes (diffusers upsample_size), with bias and residual', async () => {
    for (const [shape, cout, upsample] of [
      [[2, 5, 3, 6], 9, [9, 5]],
      [[1, 3, 4, 20], 12, [6, 7]],
      [[1, 1, 1, 3], 4, [1, 1]],
    ] as const) {
      const [gpu, expected] = await runWinograd({ shape: [...shape], cout, upsample, bias: true, residual: true }, 35);
      expectClose(gpu, expected, TOL, `${shape} → ${upsample}`);
    }
  });

  it('splits the tiles into chunks when the workspace is small', async () => {
    // 2·5·4 = 40 tiles, 16·12·4 bytes each: a 24 KiB budget holds 32 tiles (one TM=32 block), so two chunks.
    const tile = { tm: 32, tn: 32, tk: 16, rm: 4 };
    const [gpu, expected] = await runWinograd({ shape: [2, 9, 8, 10], cout: 12, bias: true, residual: true, tile, workspaceBytes: 24 * 1024 }, 40);
    expectClose(gpu, expected, TOL);
  });

  it('runs every candidate tile', async () => {
    for (const tile of CONV_TILE_CANDIDATES) {
      const [gpu, expected] = await runWinograd({ shape: [1, 11, 9, 20], cout: 36, bias: true, tile }, 50);
      expectClose(gpu, expected, TOL, JSON.stringify(tile));
    }
  });

  it('agrees with the direct path', async () => {
    const ctx = await gpuContext();
    for (const upsample of [false, true, [29, 25] as const]) {
      const shape: Shape = [1, 15, 13, 32];
      const cout = 40;
      const x = ctx.upload(randomArray(count(shape), 60), shape, 'x');
      const oihw = randomArray(cout * 32 * 9, 61, 0.5);
      const bias = ctx.upload(randomArray(cout, 62), [cout], 'bias');
      const w = ctx.weight([cout, 9 * 32], 'f32', convWeightMatrix(oihw, cout, 32), 'w');
      const u = winogradWeight(ctx, oihw, cout, 32, 'f32', 'u');
      const direct = await ctx.read(conv2d(ctx, x, w, { bias, upsample }));
      const winograd = await ctx.read(conv2d(ctx, x, u, { bias, upsample }));
      expectClose(winograd, direct, TOL, `upsample ${upsample}`);
      ctx.destroyWeight(w);
      ctx.destroyWeight(u);
    }
  });

  it('writes into a channel slice, and a copy into a skip slice, leaving the other channels untouched', async () => {
    const ctx = await gpuContext();
    const shape: Shape = [1, 7, 9, 8];
    const cout = 6;
    const x = randomArray(count(shape), 70);
    const oihw = randomArray(cout * 8 * 9, 71);
    const u = winogradWeight(ctx, oihw, cout, 8, 'f32', 'u');
    const before = randomArray(7 * 9 * 11, 72);
    const beforeSkip = randomArray(7 * 9 * 8, 73);
    const joined = ctx.upload(before, [1, 7, 9, 11], 'joined');
    const skip = ctx.upload(beforeSkip, [1, 7, 9, 8], 'skip');
    conv2d(ctx, ctx.upload(x, shape, 'x'), u, { out: { tensor: joined, offset: 5 }, skip: { tensor: skip, offset: 0 } });
    const expected = ref.conv3x3Winograd(x, shape, winogradTransform(oihw, cout, 8), cout);
    expectClose(sliceOf(await ctx.read(joined), before, 11, 5, cout), expected, TOL, 'out');
    expectClose(sliceOf(await ctx.read(skip), beforeSkip, 8, 0, cout), expected, TOL, 'skip');
    ctx.destroyWeight(u);
  });
});
