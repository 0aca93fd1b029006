import { describe, expect, it } from 'vitest';
import { groupNorm, groupNormBands } from '../../engine/ops/group-norm';
import * as ref from '../../engine/ref/group-norm';
import { ShapeError } from '../../engine/gpu/errors';
import { numel } from '../../engine/gpu/tensor';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// f32 Welford/Chan statistics against the f64 two-pass reference: the group mean carries a few ulp of the values'
// magnitude (an offset of 100 makes that ~1e-5 of the unit-size normalised output) and rstd a few ulp; 1e-4, the
// project's f32 tolerance, covers it with room.
const TOL = 1e-4;

interface Case {
  shape: number[];
  groups: number;
  eps: number;
  silu: boolean;
  add: boolean;
  offset: number;
}

const cases: Case[] = [
  { shape: [1, 3, 5, 6], groups: 3, eps: 1e-5, silu: false, add: false, offset: 0 },
  { shape: [2, 7, 9, 40], groups: 8, eps: 1e-6, silu: true, add: false, offset: 0 },
  { shape: [2, 5, 7, 64], groups: 32, eps: 1e-5, silu: true, add: true, offset: 0 },
  { shape: [2, 33, 320], groups: 32, eps: 1e-5, silu: false, add: true, offset: 0 },
  // Several statistics workgroups per group: 33·35·8 = 9240 values → 3 chunks; 23·29·40 = 26680 → 7 chunks.
  { shape: [2, 33, 35, 64], groups: 8, eps: 1e-6, silu: false, add: false, offset: 0 },
  { shape: [1, 23, 29, 320], groups: 8, eps: 1e-5, silu: true, add: true, offset: 0 },
  // A large common offset: f32 E[x²] − E[x]² gets these groups' variance wrong by 5e-3..5e-2 (measured), far past
  // the tolerance; the Welford/Chan moments stay at ~3e-6.
  { shape: [2, 31, 33, 32], groups: 4, eps: 1e-6, silu: false, add: false, offset: 100 },
  { shape: [1, 9, 11, 64], groups: 32, eps: 1e-5, silu: true, add: true, offset: -100 },
];

function inputs(c: Case) {
  const channels = c.shape[c.shape.length - 1]!;
  return {
    channels,
    x: randomArray(numel(c.shape), 51, 2).map((v) => v + c.offset),
    gamma: randomArray(channels, 52).map((v) => 1 + v),
    beta: randomArray(channels, 53),
    add: c.add ? randomArray(c.shape[0]! * channels, 54, 3) : undefined,
  };
}

describe('group-norm', () => {
  // Every case both ways: one workgroup per group (what small groups get by default) and split statistics.
  for (const c of cases) for (const passes of ['single', 'split'] as const) {
    it(`${passes}: ${c.shape} in ${c.groups} groups, eps ${c.eps}${c.silu ? ', SiLU' : ''}${c.add ? ', add' : ''}${c.offset ? `, offset ${c.offset}` : ''}`, async () => {
      const ctx = await gpuContext();
      const { channels, x, gamma, beta, add } = inputs(c);
      const y = groupNorm(ctx, ctx.upload(x, c.shape, 'x'), ctx.upload(gamma, [channels], 'gamma'), ctx.upload(beta, [channels], 'beta'), {
        groups: c.groups,
        eps: c.eps,
        silu: c.silu,
        passes,
        ...(add ? { add: ctx.upload(add, [c.shape[0]!, channels], 'add') } : {}),
      });
      const want = ref.groupNorm(x, c.shape, gamma, beta, { groups: c.groups, eps: c.eps, silu: c.silu, ...(add ? { add } : {}) });
      expectClose(await ctx.read(y), want, TOL);
    });
  }

  for (const passes of ['single', 'split'] as const) it(`${passes}: writes into a channel slice of a wider tensor and leaves the other channels alone`, async () => {
    const ctx = await gpuContext();
    const c: Case = { shape: [2, 5, 3, 24], groups: 6, eps: 1e-5, silu: true, add: true, offset: 0 };
    const { channels, x, gamma, beta, add } = inputs(c);
    const [wide, offset] = [40, 13];
    const rows = numel(c.shape) / channels;
    const background = randomArray(rows * wide, 55);
    const target = ctx.upload(background, [2, 5, 3, wide], 'wide');
    groupNorm(ctx, ctx.upload(x, c.shape, 'x'), ctx.upload(gamma, [channels], 'gamma'), ctx.upload(beta, [channels], 'beta'), {
      groups: c.groups,
      eps: c.eps,
      silu: true,
      add: ctx.upload(add!, [2, channels], 'add'),
      out: { tensor: target, offset },
      passes,
    });
    const y = ref.groupNorm(x, c.shape, gamma, beta, { groups: c.groups, eps: c.eps, silu: true, add: add! });
    const want = background.slice();
    for (let r = 0; r < rows; r++) want.set(y.subarray(r * channels, (r + 1) * channels), r * wide + offset);
    expectClose(await ctx.read(target), want, TOL);
  });

  it('adds a channel window of a wider [B, W] tensor (the UNet\'s joined time projection)', async () => {
    const ctx = await gpuContext();
    const c: Case = { shape: [2, 6, 5, 24], groups: 4, eps: 1e-5, silu: true, add: true, offset: 0 };
    const { channels, x, gamma, beta, add } = inputs(c);
    const [wide, offset] = [50, 17];
    const joined = randomArray(2 * wide, 56);
    for (let b = 0; b < 2; b++) joined.set(add!.subarray(b * channels, (b + 1) * channels), b * wide + offset);
    const window = { tensor: ctx.upload(joined, [2, wide], 'joined'), offset };
    const want = ref.groupNorm(x, c.shape, gamma, beta, { groups: c.groups, eps: c.eps, silu: true, add: add! });
    for (const passes of ['single', 'split'] as const) {
      const y = groupNorm(ctx, ctx.upload(x, c.shape, 'x'), ctx.upload(gamma, [channels], 'gamma'), ctx.upload(beta, [channels], 'beta'), {
        groups: c.groups,
        eps: c.eps,
        silu: true,
        add: window,
        passes,
      });
      expectClose(await ctx.read(y), want, TOL, passes);
    }
    const g = ctx.upload(gamma, [channels], 'g');
    expect(() => groupNorm(ctx, ctx.upload(x, c.shape, 'x'), g, g, { groups: 4, eps: 1e-5, add: { tensor: window.tensor, offset: 30 } })).toThrow(ShapeError);
  });

  // A tensor held as row bands (the VAE decoder beyond the binding limit): whole-tensor statistics from bands of
  // unequal height, some of several statistics chunks, one a view into the middle of a larger buffer.
  for (const c of [
    { batch: 1, rows: [3, 40, 1, 17], width: 9, channels: 64, groups: 8, silu: true, offset: 0 },
    { batch: 2, rows: [5, 2], width: 8, channels: 32, groups: 4, silu: false, offset: 100 },
  ]) {
    it(`bands of ${c.rows.join('/')} rows × ${c.width} × ${c.channels}, batch ${c.batch}${c.silu ? ', SiLU' : ''}${c.offset ? `, offset ${c.offset}` : ''}: the whole tensor's GroupNorm`, async () => {
      const ctx = await gpuContext();
      const rowValues = c.width * c.channels;
      const data = c.rows.map((r, i) => randomArray(c.batch * r * rowValues, 60 + i, 2).map((v) => v + c.offset));
      const gamma = randomArray(c.channels, 52).map((v) => 1 + v);
      const beta = randomArray(c.channels, 53);
      const shape = (r: number) => [c.batch, r, c.width, c.channels];
      const xs = data.map((d, i) => {
        if (i !== 1) return ctx.upload(d, shape(c.rows[i]!), `band ${i}`);
        // One empty row before the band: its view starts 256-byte aligned inside a larger buffer.
        const padded = new Float32Array(d.length + rowValues);
        padded.set(d, rowValues);
        const t = ctx.upload(padded, [padded.length], 'padded band');
        return { ...t, shape: shape(c.rows[i]!), byteOffset: rowValues * 4, byteLength: d.length * 4 };
      });
      const outs = c.rows.map((r) => ctx.empty(shape(r), 'out'));
      const opts = { groups: c.groups, eps: 1e-6, silu: c.silu };
      groupNormBands(ctx, xs, outs, ctx.upload(gamma, [c.channels], 'gamma'), ctx.upload(beta, [c.channels], 'beta'), opts);
      const want = ref.groupNormBands(data, c.batch, c.channels, gamma, beta, opts);
      for (const [i, out] of outs.entries()) expectClose(await ctx.read(out), want[i]!, TOL, `band ${i}`);
    });
  }

  it('bands: rejects bands of another batch or channel count, and a missing output', async () => {
    const ctx = await gpuContext();
    const g = ctx.upload(new Float32Array(12), [12], 'gamma');
    const a = ctx.empty([1, 2, 3, 12], 'a');
    const opts = { groups: 4, eps: 1e-6 };
    expect(() => groupNormBands(ctx, [a, ctx.empty([2, 2, 3, 12], 'b')], [ctx.empty([1, 2, 3, 12], 'o'), ctx.empty([2, 2, 3, 12], 'o')], g, g, opts)).toThrow(ShapeError);
    expect(() => groupNormBands(ctx, [a, a], [ctx.empty([1, 2, 3, 12], 'o')], g, g, opts)).toThrow(ShapeError);
    expect(() => groupNormBands(ctx, [a], [ctx.empty([1, 3, 3, 12], 'o')], g, g, opts)).toThrow(ShapeError);
  });

  it('rejects shapes that do not fit', async () => {
    const ctx = await gpuContext();
    const x = ctx.upload(new Float32Array(2 * 3 * 12), [2, 3, 12], 'x');
    const g = ctx.upload(new Float32Array(12), [12], 'gamma');
    const opts = { groups: 4, eps: 1e-5 };
    expect(() => groupNorm(ctx, x, g, g, { ...opts, groups: 5 })).toThrow(ShapeError);
    expect(() => groupNorm(ctx, x, g, g, { ...opts, groups: 0 })).toThrow(ShapeError);
    expect(() => groupNorm(ctx, ctx.upload(new Float32Array(12), [12], 'flat'), g, g, opts)).toThrow(ShapeError);
    expect(() => groupNorm(ctx, x, ctx.upload(new Float32Array(6), [6], 'gamma6'), g, opts)).toThrow(ShapeError);
    expect(() => groupNorm(ctx, x, g, g, { ...opts, add: ctx.upload(new Float32Array(12), [12], 'add1d') })).toThrow(ShapeError);
    expect(() => groupNorm(ctx, x, g, g, { ...opts, add: ctx.upload(new Float32Array(36), [3, 12], 'add3') })).toThrow(ShapeError);
    expect(() => groupNorm(ctx, x, g, g, { ...opts, eps: Number.NaN })).toThrow(ShapeError);
    expect(() => groupNorm(ctx, x, g, g, { ...opts, out: x })).toThrow(ShapeError);
    expect(() => groupNorm(ctx, x, g, g, { ...opts, out: { tensor: ctx.empty([2, 3, 16], 'narrow'), offset: 8 } })).toThrow(ShapeError);
  });
});
