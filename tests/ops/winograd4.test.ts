import { describe, expect, it } from 'vitest';
import { CONV_TILE_CANDIDATES, conv2d, convWeightMatrix } from '../../engine/ops/conv2d';
import { ShapeError } from '../../engine/gpu/errors';
import { CPU_CONV_TILES } from '../../engine/tune/candidates';
import { WINOGRAD_F4 } from '../../engine/ops/winograd4';
import { WINOGRAD_F2 } from '../../engine/ops/winograd';
import { winogradWeight } from '../../engine/ops/winograd-common';
import * as ref from '../../engine/ref/conv2d';
import { conv3x3Winograd4 } from '../../engine/ref/winograd4';
import { gpuContext, randomArray, relativeError, seededRandom } from '../helpers/gpu';
import { count, type Shape } from '../helpers/conv-cases';
import { winogradCases } from '../helpers/winograd-cases';

// Against the f64 CPU run of the same F(4×4) algorithm on the U values the kernel sees: only the kernels' f32
// rounding of transforms that scale by up to 5 (Bᵀ) and 8 (Aᵀ). Measured 1e-6 to 5e-6 on these cases (every
// format); 1e-4 is the project's f32 tolerance.
const TOL = 1e-4;

// Against the f64 direct convolution (what a user's result is measured by): U's own f32 rounding (G's sixths and
// 24ths) adds to the above. Measured on SD-like values (unit normal activations, weights ~ N(0, 1/(9·Cin)), Cin 128
// and 320) at 9e-6 and 1.7e-5 of the largest output, about 20× F(2×2)'s 5e-7 and 8e-7 and 10× the f32 direct
// path's 1.2e-6 and 1.6e-6 (the test prints all three); 1e-4 leaves 6× room.
const DIRECT_TOL = 1e-4;

/** Box–Muller normals with standard deviation `sd`: activations after a GroupNorm, Kaiming-scaled weights. */
function normals(n: number, seed: number, sd = 1): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

describe('winograd F(4×4, 3×3)', () => {
  winogradCases({
    variant: WINOGRAD_F4,
    reference: conv3x3Winograd4,
    tol: TOL,
    transformCases: [
      [[1, 5, 7, 3], 4, false],
      [[2, 6, 3, 5], 6, true],
    ],
    f32Shapes: [
      [[1, 5, 7, 3], 4],
      [[2, 9, 6, 16], 24],
    ],
    upsampleCases: [
      [[1, 5, 4, 6], 9, [9, 8]],
      [[2, 3, 7, 8], 4, [6, 13]],
    ],
    // 3·5·3 = 45 tiles; V and M take at most 36·12·4 bytes a tile, so a budget of 40 tiles rounds down to one
    // TM = 32 block: chunks of 32 and 13 tiles.
    chunked: { shape: [3, 17, 9, 10], workspaceBytes: 36 * 12 * 4 * 40 },
    // Each tile compiles its own pipeline (seconds on SwiftShader): these cover every width and register block.
    tiles: {
      title: 'runs the tuner tiles: 128 tiles or channels wide, 4 to 16 rows per thread',
      list: [...CONV_TILE_CANDIDATES.filter((t) => t.tm === 128 || t.tn === 128), ...CPU_CONV_TILES],
    },
  });

  it('is told apart from the F(2×2) and direct weights, and serves stride 1 only', async () => {
    const ctx = await gpuContext();
    const x = ctx.upload(randomArray(2 * 4 * 4 * 8, 60), [2, 4, 4, 8], 'x');
    const u = winogradWeight(WINOGRAD_F4, ctx, randomArray(4 * 8 * 9, 61), 4, 8, 'f32', 'u');
    expect(() => conv2d(ctx, x, u, { algorithm: 'winograd' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { algorithm: 'direct' })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { stride: 2 })).toThrow(ShapeError);
    expect(() => conv2d(ctx, x, u, { padding: 'bottom-right' })).toThrow(ShapeError);
    const y = conv2d(ctx, x, u, { algorithm: 'winograd4' });
    expect(y.shape).toEqual([2, 4, 4, 4]);
    await ctx.read(y);
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
        ['F(4×4)', winogradWeight(WINOGRAD_F4, ctx, oihw, cout, cin, 'f32', 'u4')],
        ['F(2×2)', winogradWeight(WINOGRAD_F2, ctx, oihw, cout, cin, 'f32', 'u2')],
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
