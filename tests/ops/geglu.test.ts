import { describe, expect, it } from 'vitest';
import { geglu } from '../../engine/ops/geglu';
import * as ref from '../../engine/ref/geglu';
import { ShapeError } from '../../engine/gpu/errors';
import { numel } from '../../engine/gpu/tensor';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// One GELU (exp + erfc fit, ~1e-6 relative) and one multiply per output; 1e-5 relative to the largest output leaves
// room for other adapters' exp.
const TOL = 1e-5;

describe('geglu', () => {
  const shapes = [[1, 2], [2, 7, 10], [3, 5, 2 * 1283], [2, 64, 2 * 640]];
  for (const shape of shapes) {
    it(`splits ${shape} into hidden · gelu(gate)`, async () => {
      const ctx = await gpuContext();
      const x = randomArray(numel(shape), 21, 4);
      const got = await ctx.read(geglu(ctx, ctx.upload(x, shape, 'x')));
      expectClose(got, ref.geglu(x, shape[shape.length - 1]!), TOL);
    });
  }

  it('writes into a channel slice of a wider tensor', async () => {
    const ctx = await gpuContext();
    const [rows, features, wide, offset] = [6, 9, 20, 11];
    const x = randomArray(rows * 2 * features, 3, 3);
    const background = randomArray(rows * wide, 4);
    const target = ctx.upload(background, [2, 3, wide], 'wide');
    geglu(ctx, ctx.upload(x, [2, 3, 2 * features], 'x'), { tensor: target, offset });
    const want = background.slice();
    const y = ref.geglu(x, 2 * features);
    for (let r = 0; r < rows; r++) want.set(y.subarray(r * features, (r + 1) * features), r * wide + offset);
    expectClose(await ctx.read(target), want, TOL);
  });

  it('rejects odd widths and bad outputs', async () => {
    const ctx = await gpuContext();
    expect(() => geglu(ctx, ctx.upload(new Float32Array(15), [3, 5], 'odd'))).toThrow(ShapeError);
    const x = ctx.upload(new Float32Array(12), [3, 4], 'x');
    expect(() => geglu(ctx, x, x)).toThrow(ShapeError);
    expect(() => geglu(ctx, x, ctx.empty([3, 4], 'full width'))).toThrow(ShapeError);
    expect(() => geglu(ctx, x, { tensor: ctx.empty([3, 3], 'narrow'), offset: 2 })).toThrow(ShapeError);
  });
});
