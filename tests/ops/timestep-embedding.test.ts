import { describe, expect, it } from 'vitest';
import { timestepEmbedding } from '../../engine/ops/timestep-embedding';
import * as ref from '../../engine/ref/timestep-embedding';
import { ShapeError } from '../../engine/gpu/errors';
import { expectClose, gpuContext } from '../helpers/gpu';

// The arguments t · freq are the same f32 numbers on both sides (CPU-computed table, correctly rounded multiply);
// what remains is the f32 range reduction and polynomials against f64 sin/cos, measured 6.0e-8 absolute for
// arguments up to 1000 (WGSL's own sin would be unspecified there). Values are bounded by 1, so absolute = relative.
const TOL = 5e-7;

describe('timestep-embedding', () => {
  const timesteps = [0, 1, 999, 500.5, 261, 37.25, 998, 731];
  const cases: ref.TimestepEmbeddingOptions[] = [
    { dim: 320, flipSinToCos: true, freqShift: 0 },
    { dim: 320, flipSinToCos: false, freqShift: 1 },
    { dim: 7, flipSinToCos: true, freqShift: 0 },
    { dim: 33, flipSinToCos: false, freqShift: 1, maxPeriod: 1000 },
    { dim: 2, flipSinToCos: false, freqShift: 0 },
  ];
  for (const opts of cases) {
    it(`dim ${opts.dim}, flip ${opts.flipSinToCos}, shift ${opts.freqShift}, max period ${opts.maxPeriod ?? 10000}`, async () => {
      const ctx = await gpuContext();
      const t = Float32Array.from(timesteps);
      const got = await ctx.read(timestepEmbedding(ctx, ctx.upload(t, [t.length], 't'), opts));
      const want = ref.timestepEmbedding(t, opts);
      expectClose(got, want, TOL);
      if (opts.dim % 2) for (let b = 0; b < t.length; b++) expect(got[b * opts.dim + opts.dim - 1]).toBe(0);
    });
  }

  it('is accurate over every integer timestep of a 1000-step schedule', async () => {
    const ctx = await gpuContext();
    const t = Float32Array.from({ length: 1000 }, (_, i) => i);
    const opts = { dim: 320, flipSinToCos: true, freqShift: 0 };
    expectClose(await ctx.read(timestepEmbedding(ctx, ctx.upload(t, [1000], 't'), opts)), ref.timestepEmbedding(t, opts), TOL);
  });

  it('matches the diffusers layout: cos then sin, first frequency 1, last exp(−ln(10⁴)·(half−1)/half)', () => {
    const emb = ref.timestepEmbedding([3], { dim: 8, flipSinToCos: true, freqShift: 0 });
    const freqs = [1, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75];
    freqs.forEach((f, i) => {
      expect(emb[i]).toBeCloseTo(Math.cos(3 * f), 6);
      expect(emb[4 + i]).toBeCloseTo(Math.sin(3 * f), 6);
    });
  });

  it('rejects bad timesteps and options', async () => {
    const ctx = await gpuContext();
    const t = ctx.upload(new Float32Array(4), [4], 't');
    expect(() => timestepEmbedding(ctx, ctx.upload(new Float32Array(4), [2, 2], 't2d'), { dim: 8, flipSinToCos: true, freqShift: 0 })).toThrow(ShapeError);
    expect(() => timestepEmbedding(ctx, t, { dim: 1, flipSinToCos: true, freqShift: 0 })).toThrow(ShapeError);
    expect(() => timestepEmbedding(ctx, t, { dim: 2, flipSinToCos: true, freqShift: 1 })).toThrow(ShapeError);
    expect(() => timestepEmbedding(ctx, t, { dim: 8, flipSinToCos: true, freqShift: 0, maxPeriod: 0 })).toThrow(ShapeError);
  });
});
