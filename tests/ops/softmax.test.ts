import { describe, expect, it } from 'vitest';
import { softmax } from '../../engine/ops/softmax';
import * as ref from '../../engine/ref/softmax';
import { ShapeError } from '../../engine/gpu/errors';
import { numel } from '../../engine/gpu/tensor';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// Each output is one exp (a few ulp) times the reciprocal of an f32 sum of ≤ 4099 terms (tree-ordered, error
// ~log2(L)·ε): ≲ 1e-6 relative to the largest output; 1e-5 leaves room for other adapters' exp.
const TOL = 1e-5;

describe('softmax', () => {
  const cases: [number[], number, number][] = [
    // shape, input scale, offset
    [[1, 1], 1, 0],
    [[3, 7], 3, 0],
    [[2, 3, 77], 8, 0],
    [[5, 4099], 4, 0],
    [[3, 1000], 30, 0],
    [[4, 333], 2, 1000],
  ];
  for (const [shape, scale, offset] of cases) {
    it(`rows of ${shape}, inputs ±${scale}${offset ? ` + ${offset}` : ''}`, async () => {
      const ctx = await gpuContext();
      const x = randomArray(numel(shape), 31, scale).map((v) => v + offset);
      const got = await ctx.read(softmax(ctx, ctx.upload(x, shape, 'x')));
      expectClose(got, ref.softmax(x, shape[shape.length - 1]!), TOL);
    });
  }

  it('gives masked (very negative) entries zero weight', async () => {
    const ctx = await gpuContext();
    const x = Float32Array.from([0.5, -3e38, 1.5, -1e30, -3e38, -3e38, 2, -3e38]);
    const got = await ctx.read(softmax(ctx, ctx.upload(x, [2, 4], 'x')));
    expectClose(got, ref.softmax(x, 4), TOL);
    expect([got[1], got[3], got[5], got[7]]).toEqual([0, 0, 0, 0]);
    expect(got[6]).toBe(1);
  });

  it('writes into a channel slice of a wider tensor', async () => {
    const ctx = await gpuContext();
    const [rows, len, wide, offset] = [5, 300, 310, 10];
    const x = randomArray(rows * len, 8, 5);
    const background = randomArray(rows * wide, 9);
    const target = ctx.upload(background, [rows, wide], 'wide');
    softmax(ctx, ctx.upload(x, [rows, len], 'x'), { tensor: target, offset });
    const want = background.slice();
    const y = ref.softmax(x, len);
    for (let r = 0; r < rows; r++) want.set(y.subarray(r * len, (r + 1) * len), r * wide + offset);
    expectClose(await ctx.read(target), want, TOL);
  });

  it('rejects empty rows and bad outputs', async () => {
    const ctx = await gpuContext();
    expect(() => softmax(ctx, ctx.empty([3, 0], 'empty'))).toThrow(ShapeError);
    const x = ctx.upload(new Float32Array(12), [3, 4], 'x');
    expect(() => softmax(ctx, x, x)).toThrow(ShapeError);
    expect(() => softmax(ctx, x, ctx.empty([4, 3], 'wrong'))).toThrow(ShapeError);
  });
});
