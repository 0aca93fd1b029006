import { describe, expect, it } from 'vitest';
import { CONV_TILE_CANDIDATES, conv2d, convWeightMatrix, type Conv2dOptions } from '../../engine/ops/conv2d';
import { ShapeError } from '../../engine/gpu/errors';
import { CPU_CONV_TILES } from '../../engine/tune/candidates';
import { winograd4Transform, winograd4Weight } from '../../engine/ops/winograd4';
import { winogradWeight } from '../../engine/ops/winograd';
import * as ref from '../../engine/ref/conv2d';
import { conv3x3Winograd4 } from '../../engine/ref/winograd4';
import { STORAGE_FORMATS, type StorageFormat } from '../../engine/gpu/tensor';
import { dequantize, packWeight } from '../../engine/quant/pack';
import { expectClose, gpuContext, randomArray, relativeError, seededRandom, sliceOf } from '../helpers/gpu';

// Against the f64 CPU run of the same F(4×4) algorithm on the U values the kernel sees: only the kernels' f32
// rounding of transforms that scale by up to 5 (Bᵀ) and 8 (Aᵀ). Measured 1e-6 to 5e-6 on these cases (every
// format); 1e-4 is the project's f32 tolerance.
const TOL = 1e-4;

// Against the f64 direct convolution (what a user's result is measured by): U's own f32 rounding (G's sixths and
// 24ths) adds to the above. Measured on SD-like values (unit normal activations, weights ~ N(0, 1/(9·Cin)), Cin 128
// and 320) at 9e-6 and 1.7e-5 of the largest output, about 20× F(2×2)'s 5e-7 and 8e-7 and 10× the f32 direct
// path's 1.2e-6 and 1.6e-6 (the test prints all three); 1e-4 leaves 6× room.
const DIRECT_TOL = 1e-4;

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

/** Box–Muller normals with standard deviation `sd`: activations after a GroupNorm, Kaiming-scaled weights. */
function normals(n: number, seed: number, sd = 1): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

/** The F(4×4) conv of a case on the GPU, and the CPU F(4×4) reference on the U values the kernel sees. */
async function runWinograd4(c: Case, seed: number): Promise<[Float32Array, Float32Array]> {
  const ctx = await gpuContext();
  const [, , , cin] = c.shape;
  const x = randomArray(count(c.shape), seed);
  const oihw = randomArray(c.cout * cin * 9, seed + 1, 0.5);
  const bias = c.bias ? randomArray(c.cout, seed + 2) : undefined;
  const residual = c.residual ? randomArray(count(outShape(c)), seed + 3) : undefined;
  const format = c.format ?? 'f32';
  const u = winograd4Weight(ctx, oihw, c.cout, cin, format, 'u');
  expect(u.shape).toEqual([36, c.cout, cin]);
  const y = conv2d(ctx, ctx.upload(x, c.shape, 'x'), u, {
    upsample: c.upsample,
    bias: bias && ctx.upload(bias, [c.cout], 'bias'),
    residual: residual && ctx.upload(residual, outShape(c), 'residual'),
    tile: c.tile,
    algorithm: 'winograd4',
    workspaceBytes: c.workspaceBytes,
  });
  expect(y.shape).toEqual(outShape(c));
  const gpu = await ctx.read(y);
  ctx.destroyWeight(u);
  const seen = dequantize(packWeight(winograd4Transform(oihw, c.cout, cin), 36 * c.cout, cin, format));
  return [gpu, conv3x3Winograd4(x, c.shape, seen, c.cout, { upsample: c.upsample, bias, residual })];
}

describe('winograd F(4×4, 3×3)', () => {
  it('transform: the CPU F(4×4) convolution of U = G g Gᵀ equals the direct convolution of g', () => {
    for (const [shape, cout, upsample] of [
      [[1, 5, 7, 3], 4, false],
      [[2, 6, 3, 5], 6, true],
    ] as const) {
      const oihw = randomArray(cout * shape[3] * 9, 1);
      const x = randomArray(count(shape), 2);
      const bias = randomArray(cout, 3);
      const u = winograd4Transform(oihw, cout, shape[3]);
      const direct = ref.conv3x3(x, shape, oihw, cout, { weightLayout: 'oihw', upsample, bias });
      expectClose(conv3x3Winograd4(x, shape, u, cout, { upsample, bias }), direct, 1e-6, `${shape}`);
    }
  });

  for (const [shape, cout] of [
    [[1, 5, 7, 3], 4],
    [[2, 9, 6, 16], 24],
  ] as [Shape, number][]) {
    it(`f32 ${shape} → ${cout}, bias`, async () => {
      const [gpu, expected] = await runWinograd4({ shape, cout, bias: true }, 10);
      expectClose(gpu, expected, TOL);
    });
  }

  for (const format of STORAGE_FORMATS) {
    it(`${format} U, odd sizes, Cin not a multiple of 4 or 32`, async () => {
      const [gpu, expected] = await runWinograd4({ shape: [2, 7, 5, 35], cout: 12, bias: true, residual: true, format }, 20);
      expectClose(gpu, expected, TOL, format);
    });
  }

  it('fuses 2× nearest upsampling, with bias and residual', async () => {
    const [gpu, expected] = await runWinograd4({ shape: [2, 5, 3, 6], cout: 9, upsample: true, bias: true, residual: true }, 30);
    expectClose(gpu, expected, TOL);
  });

  it('upsamples to odd sizes (diffusers upsample_size), with bias and residual', async () => {
    for (const [shape, cout, upsample] of [
      [[1, 5, 4, 6], 9, [9, 8]],
      [[2, 3, 7, 8], 4, [6, 13]],
    ] as const) {
      const [gpu, expected] = await runWinograd4({ shape: [...shape], cout, upsample, bias: true, residual: true }, 35);
      expectClose(gpu, expected, TOL, `${shape} → ${upsample}`);
    }
  });

  it('splits the tiles into chunks when the workspace is small', async () => {
    // 3·5·3 = 45 tiles; V and M take at most 36·12·4 bytes a tile, so a budget of 40 tiles rounds down to one
    // TM = 32 block: chunks of 32 and 13 tiles.
    const tile = { tm: 32, tn: 32, tk: 16, rm: 4 };
    const [gpu, expected] = await runWinograd4({ shape: [3, 17, 9, 10], cout: 12, bias: true, residual: true, tile, workspaceBytes: 36 * 12 * 4 * 40 }, 40);
    expectClose(gpu, expected, TOL);
  });

  it('runs the tuner tiles: 128 tiles or channels wide, 4 to 16 rows per thread', async () => {
    // Each tile compiles its own pipeline (seconds on SwiftShader): these cover every width and register block.
    const tiles = [...CONV_TILE_CANDIDATES.filter((t) => t.tm === 128 || t.tn === 128), ...CPU_CONV_TILES];
    for (const tile of tiles) {
      const [gpu, expected] = await runWinograd4({ shape: [1, 11, 9, 20], cout: 36, bias: true, tile }, 50);
      expectClose(gpu, expected, TOL, JSON.stringify(tile));
    }
  });

  it('is told apart from the F(2×2) and direct weights, and serves stride 1 only', async () => {
    const ctx = await gpuContext();
    const x = ctx.upload(randomArray(2 * 4 * 4 * 8, 60), [2, 4, 4, 8], 'x');
    const u = winograd4Weight(ctx, randomArray(4 * 8 * 9, 61), 4, 8, 'f32', 'u');
    expect(() => conv2d(ctx, x, u, { algorithm: 'winograd' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { algorithm: 'direct' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { stride: 2 })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { padding: 'bottom-right' })).toThrow(ShapeError);
    const y = conv2d(ctx, x, u, { algorithm: 'winograd4' });
    expect(y.shape).toEqual([2, 4, 4, 4]);
    await ctx.read(y);
    ctx.destroyWeight(u);
  });

  it('writes into a channel slice, and a copy into a skip slice, leaving the other channels untouched', async () => {
    const ctx = await gpuContext();
    const shape: Shape = [1, 7, 9, 8];
    const cout = 6;
    const x = randomArray(count(shape), 70);
    const oihw = randomArray(cout * 8 * 9, 71);
    const u = winograd4Weight(ctx, oihw, cout, 8, 'f32', 'u');
    const before = randomArray(7 * 9 * 11, 72);
    const beforeSkip = randomArray(7 * 9 * 8, 73);
    const joined = ctx.upload(before, [1, 7, 9, 11], 'joined');
    const skip = ctx.upload(beforeSkip, [1, 7, 9, 8], 'skip');
    conv2d(ctx, ctx.upload(x, shape, 'x'), u, { out: { tensor: joined, offset: 5 }, skip: { tensor: skip, offset: 0 } });
    const expected = conv3x3Winograd4(x, shape, winograd4Transform(oihw, cout, 8), cout);
    expectClose(sliceOf(await ctx.read(joined), before, 11, 5, cout), expected, TOL, 'out');
    expectClose(sliceOf(await ctx.read(skip), beforeSkip, 8, 0, cout), expected, TOL, 'skip');
    ctx.destroyWeight(u);
  });

  it('f32 error against the f64 direct convolution on SD-like values, next to F(2×2)', async () => {
    const ctx = await gpuContext();
    for (const [shape, cout, upsample] of [
      [[1, 8, 12, 320], 320, false],
      [[2, 8, 8, 128], 128, true],
    ] as [Shape, number, boolean][]) {
      const cin = shape[3];
      const xs = normals(count(shape), 80);
      const oihw = normals(cout * cin * 9, 81, Math.sqrt(1 / (9 * cin)));
      const x = ctx.upload(xs, shape, 'x');
      const direct = ref.conv3x3(xs, shape, oihw, cout, { weightLayout: 'oihw', upsample });
      const errors: Record<string, number> = {};
      for (const [name, u] of [
        ['F(4×4)', winograd4Weight(ctx, oihw, cout, cin, 'f32', 'u4')],
        ['F(2×2)', winogradWeight(ctx, oihw, cout, cin, 'f32', 'u2')],
        ['direct', ctx.weight([cout, 9 * cin], 'f32', convWeightMatrix(oihw, cout, cin), 'w')],
      ] as const) {
        errors[name] = relativeError(await ctx.read(conv2d(ctx, x, u, { upsample })), direct);
        ctx.destroyWeight(u);
      }
      console.log(`${shape} → ${cout}${upsample ? ' upsample' : ''}: error / max |y| ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      expect(errors['F(4×4)']).toBeLessThanOrEqual(DIRECT_TOL);
      ctx.release(x);
    }
  });
});
