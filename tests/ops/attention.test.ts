import { describe, expect, it } from 'vitest';
import {
  attention,
  attentionChunks,
  attentionTileCandidates,
  defaultAttentionTile,
  DEFAULT_ATTENTION_BUDGET,
  type AttentionTile,
} from '../../engine/ops/attention';
import * as ref from '../../engine/ref/attention';
import type { GpuContext } from '../../engine/gpu/context';
import { ShapeError } from '../../engine/gpu/errors';
import type { Tensor } from '../../engine/gpu/tensor';
import { expectClose, gpuContext, randomArray, relativeError } from '../helpers/gpu';

// f32 dot products of ≤ 160 terms, a softmax over ≤ 77 keys and an f32 weighted sum, against a float64 reference:
// the rounding error stays far below 1e-4 of the output's magnitude (measured 2e-7 to 5e-7 on SwiftShader).
const TOL = 1e-4;

// SwiftShader compiles a shader in time that grows steeply with its workgroup memory (Dawn zero-initialises it: a
// tile using 32 KiB takes 5–30 s here), so most tests use the default tiles for the 16 KiB every adapter offers.
// `long` picks the tile the op uses for more than 1024 keys (four key groups), run here on short sequences.
const tileFor = (headDim: number, long = false) => defaultAttentionTile(headDim, undefined, long ? 4096 : 1);

interface Case {
  batch: number;
  tq: number;
  /** Keys: omitted for self-attention, which reads one fused [B, T, 3C] projection. */
  tk?: number;
  heads: number;
  headDim: number;
  scale?: number;
  tile?: AttentionTile;
  budgetBytes?: number;
  /** Inputs uniform in [−magnitude, magnitude). */
  magnitude?: number;
}

interface Prepared {
  gpu: Parameters<typeof attention>[1];
  cpu: ref.RefAttentionArgs;
  batch: number;
  tq: number;
  channels: number;
}

/** Self-attention: Q, K, V windows of one [B, T, 3C] tensor; cross-attention: Q [B, Tq, C], K and V from [B, Tk, 2C]. */
function prepare(ctx: GpuContext, c: Case, seed: number): Prepared {
  const channels = c.heads * c.headDim;
  const mag = c.magnitude ?? 1;
  const common = { heads: c.heads, ...(c.scale !== undefined ? { scale: c.scale } : {}) };
  if (c.tk === undefined) {
    const shape = [c.batch, c.tq, 3 * channels];
    const data = randomArray(c.batch * c.tq * 3 * channels, seed, mag);
    const t = ctx.upload(data, shape, 'qkv');
    return {
      gpu: { q: { tensor: t, offset: 0 }, k: { tensor: t, offset: channels }, v: { tensor: t, offset: 2 * channels }, ...common },
      cpu: { q: { data, shape }, k: { data, shape, offset: channels }, v: { data, shape, offset: 2 * channels }, ...common },
      batch: c.batch,
      tq: c.tq,
      channels,
    };
  }
  const qShape = [c.batch, c.tq, channels];
  const kvShape = [c.batch, c.tk, 2 * channels];
  const qData = randomArray(c.batch * c.tq * channels, seed, mag);
  const kvData = randomArray(c.batch * c.tk * 2 * channels, seed + 1, mag);
  const qt = ctx.upload(qData, qShape, 'q');
  const kv = ctx.upload(kvData, kvShape, 'kv');
  return {
    gpu: { q: qt, k: { tensor: kv, offset: 0 }, v: { tensor: kv, offset: channels }, ...common },
    cpu: { q: { data: qData, shape: qShape }, k: { data: kvData, shape: kvShape }, v: { data: kvData, shape: kvShape, offset: channels }, ...common },
    batch: c.batch,
    tq: c.tq,
    channels,
  };
}

async function run(ctx: GpuContext, c: Case, seed = 1): Promise<{ actual: Float32Array; expected: Float32Array }> {
  const p = prepare(ctx, c, seed);
  const out = attention(ctx, { ...p.gpu, ...(c.tile ? { tile: c.tile } : {}), ...(c.budgetBytes ? { budgetBytes: c.budgetBytes } : {}) });
  const actual = await ctx.read(out);
  ctx.release(out);
  return { actual, expected: ref.attention(p.cpu) };
}

function label(c: Case): string {
  const kind = c.tk === undefined ? `self T=${c.tq}` : `cross Tq=${c.tq} Tk=${c.tk}`;
  return `${kind} B=${c.batch} heads=${c.heads} D=${c.headDim}${c.tile ? ` tile ${JSON.stringify(c.tile)}` : ''}`;
}

describe('attention', () => {
  const cases: Case[] = [
    { batch: 1, tq: 37, heads: 2, headDim: 8, tile: tileFor(8) },
    { batch: 1, tq: 37, heads: 2, headDim: 8, tile: tileFor(8, true) },
    { batch: 2, tq: 50, tk: 7, heads: 2, headDim: 16, tile: tileFor(16) },
    { batch: 2, tq: 19, heads: 2, headDim: 40, tile: tileFor(40) },
    { batch: 2, tq: 70, heads: 2, headDim: 40, tile: tileFor(40, true) },
    { batch: 2, tq: 13, tk: 23, heads: 3, headDim: 64, tile: tileFor(64, true) },
    { batch: 2, tq: 11, heads: 2, headDim: 80, tile: tileFor(80) },
    { batch: 2, tq: 9, tk: 77, heads: 2, headDim: 160, tile: tileFor(160) },
    { batch: 1, tq: 21, heads: 2, headDim: 160, tile: tileFor(160, true) },
    // No tile: the default for this device's limits.
    { batch: 1, tq: 17, heads: 3, headDim: 12 },
  ];
  for (const c of cases) {
    it(label(c), async () => {
      const ctx = await gpuContext();
      const { actual, expected } = await run(ctx, c);
      expectClose(actual, expected, TOL, label(c));
    });
  }

  it('applies a custom scale', async () => {
    const ctx = await gpuContext();
    const c: Case = { batch: 2, tq: 21, tk: 9, heads: 2, headDim: 16, scale: 0.9, tile: tileFor(16) };
    const { actual, expected } = await run(ctx, c);
    expectClose(actual, expected, TOL, 'scale 0.9');
    // The default scale (1/4 here) gives a visibly different result: the scale is really applied.
    const { actual: unscaled } = await run(ctx, { ...c, scale: undefined });
    expect(relativeError(unscaled, expected)).toBeGreaterThan(1e-2);
  });

  it('handles Tq and Tk that are not multiples of the query tile and key block', async () => {
    const ctx = await gpuContext();
    // 16 rows and 5 keys per workgroup, 2 rows and 8 dims per thread: 45 = 2·16 + 13 rows, 33 = 6·5 + 3 keys, and two
    // threads per row at D = 16.
    const tile: AttentionTile = { rows: 16, keys: 5, rowsPerThread: 2, dimsPerThread: 8, keySplit: 1 };
    for (const c of [
      { batch: 2, tq: 45, tk: 33, heads: 2, headDim: 16, tile },
      // Three key groups over blocks of 5 keys share them out unevenly (2, 2, 1; the last block of 3: 1, 1, 1).
      { batch: 2, tq: 45, tk: 33, heads: 2, headDim: 16, tile: { ...tile, keySplit: 3 } },
      // Fewer keys than key groups: group 2 sees none and must merge as an empty softmax.
      { batch: 1, tq: 20, tk: 2, heads: 2, headDim: 16, tile: { ...tile, keySplit: 3 } },
      { batch: 1, tq: 45, heads: 1, headDim: 40, tile: { rows: 12, keys: 7, rowsPerThread: 4, dimsPerThread: 12, keySplit: 2 } },
    ]) {
      const { actual, expected } = await run(ctx, c);
      expectClose(actual, expected, TOL, label(c));
    }
  });

  it('applies a causal mask (CLIP): query t sees keys 0…t, with and without key groups and chunks', async () => {
    const ctx = await gpuContext();
    const tile: AttentionTile = { rows: 16, keys: 5, rowsPerThread: 2, dimsPerThread: 8, keySplit: 1 };
    for (const [t, extra] of [
      [tile, {}],
      [{ ...tile, keySplit: 3 }, {}],
      [{ ...tile, keySplit: 2 }, { budgetBytes: 7 * 77 * 2 * 4 }],
    ] as const) {
      const channels = 32;
      const shape = [1, 77, 3 * channels];
      const data = randomArray(77 * 3 * channels, 11, 3);
      const qkv = ctx.upload(data, shape, 'qkv');
      const windows = { q: { offset: 0 }, k: { offset: channels }, v: { offset: 2 * channels } };
      const out = attention(ctx, {
        q: { tensor: qkv, ...windows.q },
        k: { tensor: qkv, ...windows.k },
        v: { tensor: qkv, ...windows.v },
        heads: 2,
        causal: true,
        tile: t,
        ...extra,
      });
      const expected = ref.attention({
        q: { data, shape, ...windows.q },
        k: { data, shape, ...windows.k },
        v: { data, shape, ...windows.v },
        heads: 2,
        causal: true,
      });
      expectClose(await ctx.read(out), expected, TOL, `causal keySplit ${t.keySplit}`);
      ctx.release(qkv, out);
    }
    const q = ctx.upload(new Float32Array(5 * 16), [1, 5, 16], 'q');
    const kv = ctx.upload(new Float32Array(7 * 16), [1, 7, 16], 'kv');
    expect(() => attention(ctx, { q, k: { tensor: kv, offset: 0 }, v: { tensor: kv, offset: 8 }, heads: 1, channels: 8, causal: true })).toThrow(ShapeError);
    ctx.release(q, kv);
  });

  it('runs tuner candidates', async () => {
    const ctx = await gpuContext();
    const candidates = attentionTileCandidates(40);
    expect(candidates.length).toBeGreaterThan(4);
    for (const tile of [candidates[0]!, candidates[Math.floor(candidates.length / 2)]!, candidates.at(-1)!]) {
      const c: Case = { batch: 1, tq: 29, tk: 18, heads: 2, headDim: 40, tile };
      const { actual, expected } = await run(ctx, c, 7);
      expectClose(actual, expected, TOL, label(c));
    }
  });

  it('splits the queries into chunks within the budget, bit-identical to one dispatch', async () => {
    const ctx = await gpuContext();
    const c: Case = { batch: 2, tq: 37, tk: 11, heads: 2, headDim: 8, tile: { rows: 4, keys: 8, rowsPerThread: 1, dimsPerThread: 8, keySplit: 2 } };
    // 11 keys · 2 heads · 2 batch · 4 bytes = 176 bytes of scores per query row: 5 rows per chunk, rounded to 4.
    const budgetBytes = 5 * 176;
    expect(attentionChunks(2, 37, 11, 2, budgetBytes, 4)).toEqual({ chunk: 4, count: 10 });
    const whole = await run(ctx, c, 3);
    ctx.profiler.reset();
    const chunked = await run(ctx, { ...c, budgetBytes }, 3);
    expect((await ctx.profiler.report()).find((r) => r.op === 'attention')?.dispatches).toBe(10);
    expectClose(whole.actual, whole.expected, TOL, 'unchunked');
    // Every row is computed by the same instructions whichever chunk it falls in.
    expect(chunked.actual).toEqual(whole.actual);
    // The context's budget (the user's setting) applies to calls that pass none.
    ctx.profiler.reset();
    const before = ctx.attentionBudgetBytes;
    ctx.attentionBudgetBytes = budgetBytes;
    try {
      expect((await run(ctx, c, 3)).actual).toEqual(whole.actual);
    } finally {
      ctx.attentionBudgetBytes = before;
    }
    expect((await ctx.profiler.report()).find((r) => r.op === 'attention')?.dispatches).toBe(10);
  });

  it('writes into a channel slice and leaves the other channels alone', async () => {
    const ctx = await gpuContext();
    const c: Case = { batch: 2, tq: 10, tk: 6, heads: 2, headDim: 8 };
    const p = prepare(ctx, c, 5);
    const extra = 5;
    const width = p.channels + 2 * extra;
    const fill = randomArray(c.batch * c.tq * width, 9);
    const target = ctx.upload(fill, [c.batch, c.tq, width], 'concat');
    attention(ctx, { ...p.gpu, tile: tileFor(8), out: { tensor: target, offset: extra } });
    const got = await ctx.read(target);
    const expected = ref.attention(p.cpu);
    const inside: number[] = [];
    for (let r = 0; r < c.batch * c.tq; r++) {
      for (let ch = 0; ch < width; ch++) {
        const x = got[r * width + ch]!;
        if (ch >= extra && ch < extra + p.channels) inside.push(x);
        else expect(x).toBe(fill[r * width + ch]);
      }
    }
    expectClose(inside, expected, TOL, 'slice');
  });

  it('reads windows narrower than the tensor when told the channel count', async () => {
    const ctx = await gpuContext();
    // [B, T, 3C + 4]: V's window would default to C + 4 channels, so the caller passes C.
    const [batch, t, heads, headDim] = [2, 9, 2, 8];
    const channels = heads * headDim;
    const shape = [batch, t, 3 * channels + 4];
    const data = randomArray(batch * t * shape[2]!, 13);
    const qkv = ctx.upload(data, shape, 'qkv+pad');
    const out = attention(ctx, {
      q: { tensor: qkv, offset: 0 },
      k: { tensor: qkv, offset: channels },
      v: { tensor: qkv, offset: 2 * channels },
      heads,
      channels,
      tile: tileFor(headDim),
    });
    const expected = ref.attention({
      q: { data, shape },
      k: { data, shape, offset: channels },
      v: { data, shape, offset: 2 * channels },
      heads,
      channels,
    });
    expectClose(await ctx.read(out), expected, TOL, 'explicit channels');
    ctx.release(out, qkv);
  });

  it('stays finite and accurate with large scores (online softmax)', async () => {
    const ctx = await gpuContext();
    // Inputs ×30: scores reach ~1e3, so exp would overflow f32 without the running max. f32 holds such a score only to
    // ~6e-5 absolute, which the softmax turns into a relative weight error of that size; the errors are random and
    // partly cancel (measured ~1e-5 on SwiftShader), so the usual 1e-4 holds.
    for (const c of [
      { batch: 1, tq: 37, heads: 2, headDim: 8, magnitude: 30, tile: tileFor(8) },
      { batch: 2, tq: 20, tk: 7, heads: 2, headDim: 40, magnitude: 30, tile: tileFor(40) },
    ]) {
      const { actual, expected } = await run(ctx, c, 11);
      expect(actual.every(Number.isFinite)).toBe(true);
      expectClose(actual, expected, TOL, label(c));
    }
  });

  it('computes chunk sizes from the budget', () => {
    // SD 1.5 at 512²: 4096 tokens, 8 heads, batch 2 (guidance) → 8 chunks of 512 at the default budget.
    expect(attentionChunks(2, 4096, 4096, 8, DEFAULT_ATTENTION_BUDGET)).toEqual({ chunk: 512, count: 8 });
    expect(attentionChunks(2, 4096, 77, 8, DEFAULT_ATTENTION_BUDGET)).toEqual({ chunk: 4096, count: 1 });
    expect(attentionChunks(1, 10, 10, 1, 1)).toEqual({ chunk: 1, count: 10 });
    expect(attentionChunks(1, 100, 10, 1, 40 * 30, 64)).toEqual({ chunk: 30, count: 4 });
    expect(() => attentionChunks(1, 10, 10, 1, 0)).toThrow(ShapeError);
  });

  it('rejects heads that do not divide the channels, overflowing windows and mismatched shapes', async () => {
    const ctx = await gpuContext();
    const qkv = ctx.upload(new Float32Array(2 * 5 * 30), [2, 5, 30], 'qkv');
    const kv = ctx.upload(new Float32Array(1 * 7 * 20), [1, 7, 20], 'kv');
    const q = ctx.upload(new Float32Array(2 * 5 * 10), [2, 5, 10], 'q');
    const win = (tensor: Tensor, offset: number) => ({ tensor, offset });
    const self = { q: win(qkv, 0), k: win(qkv, 10), v: win(qkv, 20) };
    expect(() => attention(ctx, { ...self, heads: 3 })).toThrow(/heads/);
    expect(() => attention(ctx, { ...self, heads: 2, channels: 12 })).toThrow(/overflows/);
    expect(() => attention(ctx, { q: win(qkv, 0), k: win(qkv, 10), v: win(qkv, 30), heads: 2 })).toThrow(ShapeError);
    expect(() => attention(ctx, { q, k: win(kv, 0), v: win(kv, 10), heads: 2 })).toThrow(/batch/);
    expect(() => attention(ctx, { ...self, heads: 2, out: qkv })).toThrow(ShapeError);
    expect(() => attention(ctx, { ...self, heads: 2, out: win(qkv, 0) })).toThrow(/shares a buffer/);
    expect(() => attention(ctx, { ...self, heads: 2, tile: { rows: 6, keys: 8, rowsPerThread: 4, dimsPerThread: 8, keySplit: 1 } })).toThrow(ShapeError);
    expect(() => attention(ctx, { ...self, heads: 1, tile: { rows: 1024, keys: 64, rowsPerThread: 1, dimsPerThread: 4, keySplit: 1 } })).toThrow(
      /workgroup memory/,
    );
    ctx.release(qkv, kv, q);
  });
});
