import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../engine/gpu/errors';
import { promptWeights } from '../../engine/ops/prompt-weights';
import * as ref from '../../engine/ref/prompt-weights';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// The ratio of two f32 sums over T·C values against f64 ones: the sums are offset away from 0 here (mean ≈ 0.5 of
// values in [-1.5, 2.5)), so their f32 rounding is ~1e-6 relative; the products add one rounding each.
const TOL = 1e-5;

describe('prompt-weights', () => {
  const cases: [number, number, number][] = [
    // batch, tokens, hidden
    [1, 5, 3],
    [2, 77, 768],
    [3, 7, 33],
  ];
  for (const [batch, tokens, hidden] of cases) {
    it(`weighs [${batch}, ${tokens}, ${hidden}] and keeps each prompt's mean`, async () => {
      const ctx = await gpuContext();
      const z = randomArray(batch * tokens * hidden, 5, 2).map((v) => v + 0.5);
      const w = randomArray(batch * tokens, 6, 0.5).map((v) => 1 + v);
      const y = await ctx.read(promptWeights(ctx, ctx.upload(z, [batch, tokens, hidden], 'z'), ctx.upload(w, [batch, tokens], 'w')));
      const want = ref.promptWeights(z, w, tokens);
      expectClose(y, want, TOL);
      const n = tokens * hidden;
      for (let b = 0; b < batch; b++) {
        const mean = (a: Float32Array) => a.subarray(b * n, (b + 1) * n).reduce((s, v) => s + v, 0) / n;
        expect(Math.abs(mean(y) - mean(z))).toBeLessThan(1e-5 * Math.abs(mean(z)));
      }
    });
  }

  it('leaves a prompt whose weights are all 1 bit for bit, beside a weighted one', async () => {
    const ctx = await gpuContext();
    const [tokens, hidden] = [77, 64];
    const z = randomArray(2 * tokens * hidden, 9, 3);
    const w = new Float32Array(2 * tokens).fill(1);
    w[tokens + 3] = 1.5;
    const y = await ctx.read(promptWeights(ctx, ctx.upload(z, [2, tokens, hidden], 'z'), ctx.upload(w, [2, tokens], 'w')));
    expect(y.subarray(0, tokens * hidden)).toEqual(z.subarray(0, tokens * hidden));
    expectClose(y.subarray(tokens * hidden), ref.promptWeights(z, w, tokens).subarray(tokens * hidden), TOL);
  });

  it('skips the rescale when the weighted mean is 0', async () => {
    const ctx = await gpuContext();
    const z = Float32Array.from([1, 1, 2, 2]);
    const w = Float32Array.from([2, -1]);
    const y = await ctx.read(promptWeights(ctx, ctx.upload(z, [1, 2, 2], 'z'), ctx.upload(w, [1, 2], 'w')));
    expect(y).toEqual(Float32Array.from([2, 2, -2, -2]));
  });

  it('rejects weights that do not match the hidden states', async () => {
    const ctx = await gpuContext();
    const z = ctx.upload(new Float32Array(2 * 3 * 4), [2, 3, 4], 'z');
    expect(() => promptWeights(ctx, z, ctx.upload(new Float32Array(3), [1, 3], 'w'))).toThrow(ShapeError);
    expect(() => promptWeights(ctx, z, ctx.upload(new Float32Array(6), [6], 'w'))).toThrow(ShapeError);
    expect(() => promptWeights(ctx, ctx.upload(new Float32Array(6), [2, 3], 'flat'), ctx.upload(new Float32Array(6), [2, 3], 'w'))).toThrow(ShapeError);
  });
});
