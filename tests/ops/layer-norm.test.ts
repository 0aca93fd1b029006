import { describe, expect, it } from 'vitest';
import { layerNorm } from '../../engine/ops/layer-norm';
import * as ref from '../../engine/ref/layer-norm';
import { ShapeError } from '../../engine/gpu/errors';
import { numel } from '../../engine/gpu/tensor';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// f32 statistics against the f64 reference: the mean carries ~C·ε relative error of the row's values, which for
// an offset of 100 is ~1e-5 of the normalised (unit-size) output; 1e-4, the project's f32 tolerance, covers it.
const TOL = 1e-4;

describe('layer-norm', () => {
  const cases: [number[], number, number][] = [
    // shape, offset, eps
    [[1, 6], 0, 1e-5],
    [[3, 5, 40], 0, 1e-5],
    [[2, 7, 320], 0, 1e-6],
    [[4, 1283], 0, 1e-5],
    [[2, 77, 768], 0, 1e-5],
    [[3, 9, 320], 100, 1e-5],
    [[5, 1000], -1000, 1e-5],
  ];
  for (const [shape, offset, eps] of cases) {
    it(`normalises rows of ${shape} (offset ${offset}, eps ${eps})`, async () => {
      const ctx = await gpuContext();
      const channels = shape[shape.length - 1]!;
      const x = randomArray(numel(shape), 41, 2).map((v) => v + offset);
      const gamma = randomArray(channels, 42).map((v) => 1 + v);
      const beta = randomArray(channels, 43);
      const y = layerNorm(ctx, ctx.upload(x, shape, 'x'), ctx.upload(gamma, [channels], 'gamma'), ctx.upload(beta, [channels], 'beta'), { eps });
      expectClose(await ctx.read(y), ref.layerNorm(x, gamma, beta, { eps }), TOL);
    });
  }

  it('normalises constant rows to beta', async () => {
    const ctx = await gpuContext();
    const x = new Float32Array(3 * 40).fill(123.25);
    const beta = randomArray(40, 2);
    const y = await ctx.read(layerNorm(ctx, ctx.upload(x, [3, 40], 'x'), ctx.upload(randomArray(40, 1), [40], 'gamma'), ctx.upload(beta, [40], 'beta')));
    expectClose(y, new Float32Array(120).map((_, i) => beta[i % 40]!), 1e-7);
  });

  it('writes into a channel slice of a wider tensor', async () => {
    const ctx = await gpuContext();
    const [rows, channels, wide, offset] = [6, 70, 100, 30];
    const x = randomArray(rows * channels, 7, 3);
    const gamma = randomArray(channels, 8);
    const beta = randomArray(channels, 9);
    const background = randomArray(rows * wide, 10);
    const target = ctx.upload(background, [2, 3, wide], 'wide');
    layerNorm(ctx, ctx.upload(x, [2, 3, channels], 'x'), ctx.upload(gamma, [channels], 'gamma'), ctx.upload(beta, [channels], 'beta'), { out: { tensor: target, offset } });
    const want = background.slice();
    const y = ref.layerNorm(x, gamma, beta);
    for (let r = 0; r < rows; r++) want.set(y.subarray(r * channels, (r + 1) * channels), r * wide + offset);
    expectClose(await ctx.read(target), want, TOL);
  });

  it('rejects mismatched parameters and bad outputs', async () => {
    const ctx = await gpuContext();
    const x = ctx.upload(new Float32Array(24), [2, 3, 4], 'x');
    const g = ctx.upload(new Float32Array(4), [4], 'gamma');
    expect(() => layerNorm(ctx, x, ctx.upload(new Float32Array(3), [3], 'gamma3'), g)).toThrow(ShapeError);
    expect(() => layerNorm(ctx, x, g, ctx.upload(new Float32Array(4), [1, 4], 'beta2d'))).toThrow(ShapeError);
    expect(() => layerNorm(ctx, x, g, g, { eps: -1 })).toThrow(ShapeError);
    expect(() => layerNorm(ctx, x, g, g, { out: x })).toThrow(ShapeError);
    expect(() => layerNorm(ctx, x, g, g, { out: ctx.empty([6, 4], 'flat') })).toThrow(ShapeError);
  });
});
