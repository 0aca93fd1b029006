import { describe, expect, it } from 'vitest';
import { CONV_TILE_CANDIDATES, conv2d, convWeightMatrix } from '../../engine/ops/conv2d';
import { WINOGRAD_F2 } from '../../engine/ops/winograd';
import { winogradWeight } from '../../engine/ops/winograd-common';
import * as ref from '../../engine/ref/conv2d';
import { ShapeError } from '../../engine/gpu/errors';
import { STORAGE_FORMATS } from '../../engine/gpu/tensor';
import { dequantize, packWeight } from '../../engine/quant/pack';
import { convCaseData, count, outShape, type ConvCase, type Shape } from '../helpers/conv-cases';
import { expectClose, gpuContext, randomArray, sliceOf } from '../helpers/gpu';

// f32 sums of up to 9·Cin = 288 products in a different order than the f64 reference: ~1e-6 relative in practice,
// 1e-4 leaves room. Quantised weights are compared against the reference run on their dequantised values, so the
// same tolerance holds for every storage format.
const TOL = 1e-4;

/** Runs the direct conv of a case on the GPU and on the CPU (with the weights the kernel sees). */
async function runDirect(c: ConvCase, seed: number): Promise<[Float32Array, Float32Array]> {
  const ctx = await gpuContext();
  const [, , , cin] = c.shape;
  const { x, oihw, bias, residual } = convCaseData(c, seed);
  const packed = packWeight(convWeightMatrix(oihw, c.cout, cin), c.cout, 9 * cin, c.format ?? 'f32');
  const w = ctx.weight(packed.shape, packed.format, packed.data, 'w', packed.scales);
  const y = conv2d(ctx, ctx.upload(x, c.shape, 'x'), w, {
    stride: c.stride,
    upsample: c.upsample,
    padding: c.padding,
    bias: bias && ctx.upload(bias, [c.cout], 'bias'),
    residual: residual && ctx.upload(residual, outShape(c), 'residual'),
    tile: c.tile,
    algorithm: 'direct',
  });
  expect(y.shape).toEqual(outShape(c));
  const gpu = await ctx.read(y);
  ctx.destroyWeight(w);
  const expected = ref.conv3x3(x, c.shape, dequantize(packed), c.cout, { stride: c.stride, upsample: c.upsample, padding: c.padding, bias, residual });
  return [gpu, expected];
}

describe('conv2d direct', () => {
  const shapes: [Shape, number][] = [
    [[1, 5, 7, 3], 4],
    [[2, 9, 6, 16], 24],
    [[1, 16, 16, 32], 40],
  ];
  for (const [shape, cout] of shapes) {
    for (const stride of [1, 2] as const) {
      it(`f32 ${shape} → ${cout}, stride ${stride}, bias`, async () => {
        const [gpu, expected] = await runDirect({ shape, cout, stride, bias: true }, 10);
        expectClose(gpu, expected, TOL);
      });
    }
  }

  it('matches the reference computed straight from the PyTorch [Cout, Cin, 3, 3] weight', async () => {
    const ctx = await gpuContext();
    const shape: Shape = [1, 6, 5, 7];
    const cout = 5;
    const x = randomArray(count(shape), 20);
    const oihw = randomArray(cout * 7 * 9, 21);
    const w = ctx.weight([cout, 63], 'f32', convWeightMatrix(oihw, cout, 7), 'w');
    const gpu = await ctx.read(conv2d(ctx, ctx.upload(x, shape, 'x'), w));
    expectClose(gpu, ref.conv3x3(x, shape, oihw, cout, { weightLayout: 'oihw' }), TOL);
    ctx.destroyWeight(w);
  });

  it('fuses 2× nearest upsampling, with bias and residual', async () => {
    const [gpu, expected] = await runDirect({ shape: [2, 5, 7, 3], cout: 4, upsample: true, bias: true, residual: true }, 30);
    expectClose(gpu, expected, TOL);
  });

  it('upsamples then strides 2 on odd sizes', async () => {
    const [gpu, expected] = await runDirect({ shape: [1, 5, 3, 6], cout: 9, upsample: true, stride: 2, residual: true }, 35);
    expectClose(gpu, expected, TOL);
  });

  it("PyTorch's nearest index for an output of 2n − 1 or 2n pixels is i >> 1, for every n up to 512", () => {
    // 512 latent pixels is 4096 image pixels, past the largest size the engine accepts.
    for (let n = 1; n <= 512; n++) {
      for (const size of [2 * n - 1, 2 * n]) {
        for (let i = 0; i < size; i++) {
          if (ref.nearestIndex(i, n, size) !== i >> 1) expect.fail(`n ${n}, size ${size}, i ${i}: ${ref.nearestIndex(i, n, size)}`);
        }
      }
    }
    // …and not for other sizes, which conv2d therefore refuses.
    expect(ref.nearestIndex(3, 4, 6)).toBe(2);
  });

  it('upsamples to odd sizes (diffusers upsample_size), with bias and residual', async () => {
    for (const [shape, cout, upsample, stride] of [
      [[2, 5, 3, 6], 9, [9, 6], 1],
      [[1, 3, 4, 20], 12, [5, 7], 1],
      [[1, 1, 2, 3], 4, [1, 3], 1],
      [[1, 4, 3, 5], 6, [7, 5], 2],
    ] as const) {
      const [gpu, expected] = await runDirect({ shape: [...shape], cout, upsample, stride, bias: true, residual: true }, 33);
      expectClose(gpu, expected, TOL, `${shape} → ${upsample}`);
    }
  });

  it('pads only bottom and right (diffusers VAE encoder downsampling), odd and even sizes', async () => {
    for (const [shape, cout, stride] of [
      [[1, 8, 6, 5], 7, 2],
      [[2, 7, 9, 3], 4, 2],
      [[1, 5, 4, 3], 2, 1],
    ] as const) {
      const [gpu, expected] = await runDirect({ shape: [...shape], cout, stride, padding: 'bottom-right', bias: true }, 37);
      expectClose(gpu, expected, TOL, `${shape} stride ${stride}`);
    }
  });

  for (const format of STORAGE_FORMATS) {
    it(`${format} weights, Cin not a multiple of 4 or 32`, async () => {
      for (const [shape, cout, stride] of [
        [[1, 5, 7, 3], 4, 1],
        [[2, 9, 6, 19], 24, 2],
      ] as const) {
        const [gpu, expected] = await runDirect({ shape: [...shape], cout, stride, bias: true, format }, 40);
        expectClose(gpu, expected, TOL, `${format} ${shape}`);
      }
    });
  }

  it('runs every candidate tile', async () => {
    for (const tile of CONV_TILE_CANDIDATES) {
      const [gpu, expected] = await runDirect({ shape: [1, 11, 9, 20], cout: 36, bias: true, residual: true, tile }, 50);
      expectClose(gpu, expected, TOL, JSON.stringify(tile));
    }
  });

  it('writes into a channel slice, and a copy into a skip slice, leaving the other channels untouched', async () => {
    const ctx = await gpuContext();
    const shape: Shape = [2, 7, 5, 6];
    const cout = 10;
    const pixels = 2 * 7 * 5;
    const x = randomArray(count(shape), 60);
    const oihw = randomArray(cout * 6 * 9, 61);
    const bias = randomArray(cout, 62);
    const w = ctx.weight([cout, 54], 'f32', convWeightMatrix(oihw, cout, 6), 'w');
    const before = randomArray(pixels * 17, 63);
    const beforeSkip = randomArray(pixels * 13, 64);
    const joined = ctx.upload(before, [2, 7, 5, 17], 'joined');
    const skip = ctx.upload(beforeSkip, [2, 7, 5, 13], 'skip');
    const y = conv2d(ctx, ctx.upload(x, shape, 'x'), w, {
      bias: ctx.upload(bias, [cout], 'bias'),
      out: { tensor: joined, offset: 4 },
      skip: { tensor: skip, offset: 3 },
    });
    expect(y).toBe(joined);
    const expected = ref.conv3x3(x, shape, oihw, cout, { weightLayout: 'oihw', bias });
    expectClose(sliceOf(await ctx.read(joined), before, 17, 4, cout), expected, TOL, 'out');
    expectClose(sliceOf(await ctx.read(skip), beforeSkip, 13, 3, cout), expected, TOL, 'skip');
    ctx.destroyWeight(w);
  });

  it('rejects weights, biases, residuals and tiles that do not fit', async () => {
    const ctx = await gpuContext();
    const x = ctx.upload(new Float32Array(2 * 4 * 4 * 3), [2, 4, 4, 3], 'x');
    const w = ctx.weight([8, 27], 'f32', new Float32Array(8 * 27), 'w');
    const wrongK = ctx.weight([8, 24], 'f32', new Float32Array(8 * 24), 'wrongK');
    const u = winogradWeight(WINOGRAD_F2, ctx, new Float32Array(8 * 3 * 9), 8, 3, 'f32', 'u');
    expect(() => conv2d(ctx, x, wrongK)).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, w, { algorithm: 'winograd' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { algorithm: 'direct' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { stride: 2 })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { padding: 'bottom-right' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, w, { out: x })).toThrow(ShapeError);
    expect(() => conv2d(ctx, ctx.upload(new Float32Array(3), [1, 1, 1, 3], 'pixel'), w, { padding: 'bottom-right' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, w, { bias: ctx.upload(new Float32Array(4), [4], 'bias') })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, w, { residual: ctx.upload(new Float32Array(2 * 4 * 4 * 8), [2, 4, 8, 4], 'res') })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, w, { out: ctx.empty([2, 4, 4, 7], 'narrow') })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, w, { tile: { tm: 64, tn: 64, tk: 48, rm: 4 } })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, w, { upsample: [6, 8] })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { upsample: [7, 9] })).toThrow(ShapeError);
    expect(() => conv2d(ctx, ctx.upload(new Float32Array(12), [4, 3], 'flat'), w)).toThrow(ShapeError);
    ctx.destroyWeight(w);
    ctx.destroyWeight(wrongK);
    ctx.destroyWeight(u);
  });
});
