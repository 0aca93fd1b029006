import { describe, expect, it } from 'vitest';
import { gelu, quickGelu, silu } from '../../engine/ops/unary';
import * as ref from '../../engine/ref/unary';
import { ShapeError } from '../../engine/gpu/errors';
import { numel } from '../../engine/gpu/tensor';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// One exp, a division and (GELU) a 10-term polynomial per element: WGSL's exp is good to a few ulp over this input
// range and the erfc fit to 1.2e-7 relative, so the GPU stays within ~1e-6 of the f64 references; 1e-5 leaves room
// for other adapters' exp.
const TOL = 1e-5;

const ops = [
  ['silu', silu, ref.silu],
  ['gelu', gelu, ref.gelu],
  ['quickGelu', quickGelu, ref.quickGelu],
] as const;

describe('unary activations', () => {
  const shapes = [[7], [2, 5, 3, 13], [3, 4099]];
  for (const shape of shapes) {
    it(`silu, gelu, quickGelu on ${shape}`, async () => {
      const ctx = await gpuContext();
      const x = randomArray(numel(shape), 11, 6);
      const tx = ctx.upload(x, shape, 'x');
      for (const [name, op, reference] of ops) expectClose(await ctx.read(op(ctx, tx)), reference(x), TOL, name);
    });
  }

  it('stays finite and accurate at extreme inputs', async () => {
    const ctx = await gpuContext();
    const x = Float32Array.from([-3e38, -1e30, -1e4, -100, -88.8, -30, -12, -5.5, -1e-3, -0, 0, 1e-30, 1e-3, 5.5, 12, 30, 88.8, 100, 1e4, 1e30, 3e38]);
    const tx = ctx.upload(x, [x.length], 'x');
    for (const [name, op, reference] of ops) {
      const got = await ctx.read(op(ctx, tx));
      const want = reference(x);
      got.forEach((v, i) => {
        expect(Number.isFinite(v), `${name}(${x[i]}) = ${v}`).toBe(true);
        expect(Math.abs(v - want[i]!), `${name}(${x[i]}) = ${v}, want ${want[i]}`).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(want[i]!)));
      });
    }
  });

  it('keeps GELU of negative inputs accurate relative to their own size', async () => {
    const ctx = await gpuContext();
    const x = Float32Array.from({ length: 53 }, (_, i) => -0.25 * i);
    const got = await ctx.read(gelu(ctx, ctx.upload(x, [x.length], 'x')));
    const want = ref.gelu(x);
    // Down to x = −13, where GELU leaves the normal f32 range; a 1 + erf form would lose every digit by x ≈ −6.
    // exp(−x²/2) carries the f32 rounding of x²/2 plus WGSL's exp bound of 3 + 2|arg| ulp, so the relative error
    // grows like x²·1.2e-7 (measured 1.0e-5 at x = −11.75 on SwiftShader).
    got.forEach((v, i) => {
      const rel = Math.abs(v - want[i]!) / Math.abs(want[i]! || 1);
      expect(rel, `gelu(${x[i]}) = ${v}, want ${want[i]}`).toBeLessThanOrEqual(1e-6 + 2e-7 * x[i]! ** 2);
    });
  });

  it('writes into a channel slice of a wider tensor and leaves the other channels alone', async () => {
    const ctx = await gpuContext();
    const [rows, channels, wide, offset] = [9, 13, 24, 7];
    const x = randomArray(rows * channels, 5, 4);
    const background = randomArray(rows * wide, 6);
    for (const [name, op, reference] of ops) {
      const target = ctx.upload(background, [3, 3, wide], 'wide');
      op(ctx, ctx.upload(x, [3, 3, channels], 'x'), { tensor: target, offset });
      const got = await ctx.read(target);
      const want = background.slice();
      const y = reference(x);
      for (let r = 0; r < rows; r++) want.set(y.subarray(r * channels, (r + 1) * channels), r * wide + offset);
      expectClose(got, want, TOL, name);
    }
  });

  it('rejects bad outputs and non-f32 inputs', async () => {
    const ctx = await gpuContext();
    const x = ctx.upload(new Float32Array(12), [3, 4], 'x');
    expect(() => silu(ctx, x, x)).toThrow(ShapeError);
    expect(() => gelu(ctx, x, ctx.empty([4, 3], 'wrong'))).toThrow(ShapeError);
    expect(() => quickGelu(ctx, x, { tensor: ctx.empty([3, 6], 'narrow'), offset: 3 })).toThrow(ShapeError);
    const w = ctx.weight([3, 4], 'f16', new Uint32Array(6), 'w16');
    expect(() => silu(ctx, w)).toThrow(ShapeError);
  });
});
