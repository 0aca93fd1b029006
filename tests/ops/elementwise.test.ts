import { describe, expect, it } from 'vitest';
import { add, mul, scale } from '../../engine/ops/elementwise';
import * as ref from '../../engine/ref/elementwise';
import { ShapeError } from '../../engine/gpu/errors';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// One f32 operation per element: GPU and CPU round identically, so the tolerance is f32 epsilon-level.
const TOL = 1e-6;

describe('elementwise', () => {
  const shapes: [number[], number[]][] = [
    [[7], [7]],
    [[2, 5, 3, 13], [13]],
    [[3, 1031], [3, 1031]],
    [[5, 4099], [4099]],
  ];
  for (const [shapeA, shapeB] of shapes) {
    it(`add and mul ${shapeA} with ${shapeB}`, async () => {
      const ctx = await gpuContext();
      const a = randomArray(shapeA.reduce((x, y) => x * y), 1);
      const b = randomArray(shapeB.reduce((x, y) => x * y), 2);
      const ta = ctx.upload(a, shapeA, 'a');
      const tb = ctx.upload(b, shapeB, 'b');
      expectClose(await ctx.read(add(ctx, ta, tb)), ref.add(a, b), TOL, 'add');
      expectClose(await ctx.read(mul(ctx, ta, tb)), ref.mul(a, b), TOL, 'mul');
      expectClose(await ctx.read(scale(ctx, ta, 0.5, -2)), ref.scale(a, 0.5, -2), TOL, 'scale');
    });
  }

  it('uses a 2-D grid beyond the per-dimension workgroup limit', async () => {
    const ctx = await gpuContext();
    const n = 65536 * 1024 + 5; // > 65535 workgroups of 1024 elements
    const a = new Float32Array(n).map((_, i) => i % 97);
    const out = await ctx.read(scale(ctx, ctx.upload(a, [n], 'a'), 2, 1));
    expect(out[n - 1]).toBe((a[n - 1]! * 2) + 1);
    expect(out[12345678]).toBe(a[12345678]! * 2 + 1);
  });

  it('rejects shapes that do not broadcast', async () => {
    const ctx = await gpuContext();
    const a = ctx.upload(new Float32Array(6), [2, 3], 'a');
    const b = ctx.upload(new Float32Array(2), [2], 'b');
    expect(() => add(ctx, a, b)).toThrow(ShapeError);
  });
});
