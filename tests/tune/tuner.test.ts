/**
 * The tuner's search on tiny GEMMs: a candidate whose output is wrong is rejected before it is timed, a candidate
 * slower than the default leaves the default in place, and `tune` turns recorded shapes into table entries within
 * its budget. Candidate lists are kept to one or two tiles: SwiftShader compiles a pipeline in seconds.
 */
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../engine/gpu/context';
import type { Tensor } from '../../engine/gpu/tensor';
import { DEFAULT_GEMM_TILE, linear, type GemmTile } from '../../engine/ops/gemm';
import { packWeight } from '../../engine/quant/pack';
import { shapeKey, type ConvShape, type ConvWeightShape, type GemmShape } from '../../engine/tune/shapes';
import { relativeError } from '../../engine/tune/compare';
import {
  convAlgorithmEntry,
  convProblems,
  CROSS_ALGORITHM_TOLERANCE,
  Deadline,
  searchProblem,
  tune,
  type ConvWeightTimes,
  type Problem,
  type Trial,
} from '../../engine/tune/tuner';
import { gpuContext, randomArray } from '../helpers/gpu';

// The small tile the GEMM tests use, so its pipeline is one SwiftShader compiles quickly.
const SMALL: GemmTile = { tileM: 32, tileN: 32, tileK: 16, vec: 4, wptM: 2, wptN: 2 };

function gemmInputs(ctx: GpuContext, m: number, k: number, n: number): { x: Tensor; w: Tensor; other: Tensor } {
  const x = ctx.upload(randomArray(m * k, 1), [m, k], 'x');
  const make = (seed: number) => ctx.weight([n, k], 'f32', packWeight(randomArray(n * k, seed), n, k, 'f32').data, `w${seed}`);
  return { x, w: make(2), other: make(3) };
}

const trial = (tile: GemmTile, run: () => Tensor): Trial => ({ config: { op: 'gemm', tile }, run });

describe('tuner search', () => {
  it('rejects a candidate whose output differs from the reference and never times it', async () => {
    const ctx = await gpuContext();
    const { x, w, other } = gemmInputs(ctx, 40, 24, 36);
    let wrongRuns = 0;
    const problem: Problem = {
      default: trial(DEFAULT_GEMM_TILE, () => linear(ctx, x, w, { tile: DEFAULT_GEMM_TILE })),
      candidates: [
        // The injected fault: a kernel that reads the wrong weights (as a broken tile's indexing would).
        trial(SMALL, () => {
          wrongRuns++;
          return linear(ctx, x, other, { tile: SMALL });
        }),
        trial(SMALL, () => linear(ctx, x, w, { tile: SMALL })),
      ],
      dispose: () => undefined,
    };
    const result = await searchProblem(ctx, problem, new Deadline(600_000), { repeat: 2 });
    expect(result).toBeDefined();
    expect(result!.rejected).toBe(1);
    expect(result!.tried).toBe(1);
    expect(wrongRuns).toBe(1);
    expect(result!.best).not.toBe(problem.candidates[0]);
    ctx.release(x);
    ctx.destroyWeight(w);
    ctx.destroyWeight(other);
  });

  it('keeps the default when no candidate is faster', async () => {
    const ctx = await gpuContext();
    const { x, w, other } = gemmInputs(ctx, 64, 64, 64);
    // Same tile, same result, six times the work: slower on any adapter.
    const slow = trial(SMALL, () => {
      for (let i = 0; i < 5; i++) ctx.release(linear(ctx, x, w, { tile: SMALL }));
      return linear(ctx, x, w, { tile: SMALL });
    });
    const problem: Problem = { default: trial(SMALL, () => linear(ctx, x, w, { tile: SMALL })), candidates: [slow], dispose: () => undefined };
    const result = await searchProblem(ctx, problem, new Deadline(600_000), { repeat: 3 });
    expect(result!.best).toBe(problem.default);
    expect(result!.ms).toBe(result!.defaultMs);
    expect(result!.tried).toBe(1);
    ctx.release(x);
    ctx.destroyWeight(w);
    ctx.destroyWeight(other);
  });

  it('with a baseline, does not run the default again and checks candidates against the baseline reference', async () => {
    const ctx = await gpuContext();
    const { x, w, other } = gemmInputs(ctx, 40, 24, 36);
    let defaultRuns = 0;
    const problem: Problem = {
      default: trial(DEFAULT_GEMM_TILE, () => {
        defaultRuns++;
        return linear(ctx, x, w, { tile: DEFAULT_GEMM_TILE });
      }),
      candidates: [trial(SMALL, () => linear(ctx, x, other, { tile: SMALL })), trial(SMALL, () => linear(ctx, x, w, { tile: SMALL }))],
      dispose: () => undefined,
    };
    const first = await searchProblem(ctx, { ...problem, candidates: [] }, new Deadline(600_000), { repeat: 1 });
    expect(defaultRuns).toBe(2);
    const result = await searchProblem(ctx, problem, new Deadline(600_000), { repeat: 1, baseline: first! });
    expect(defaultRuns).toBe(2);
    expect([result!.defaultMs, result!.rejected, result!.tried]).toEqual([first!.defaultMs, 1, 1]);
    ctx.release(x);
    ctx.destroyWeight(w);
    ctx.destroyWeight(other);
  });

  it('tune() stops at its budget, reports progress per shape and leaves untuned shapes out of the table', async () => {
    const ctx = await gpuContext();
    const shape: GemmShape = { op: 'gemm', b: 'f16', batch: 1, m: 24, k: 16, n: 8 };
    const progress: number[] = [];
    // A spent budget: both shapes are left out (no entry: their defaults stay), and progress still counts them.
    const other: GemmShape = { ...shape, m: 8 };
    const result = await tune(ctx, [{ shape, key: shapeKey(shape), count: 1 }, { shape: other, key: shapeKey(other), count: 1 }], {
      budgetMs: 0,
      repeat: 1,
      onProgress: (p) => progress.push(p.done),
    });
    expect(progress).toEqual([0, 1, 2]);
    expect(result.stopped).toBe('budget');
    expect(Object.keys(result.table.entries)).toEqual([]);
    expect(result.skipped).toBe(2);
    expect(result.table.adapter.vendor).toBe(ctx.adapter.vendor);
  });

  it('offers Winograd F(4×4) for f32 weights, whose output passes the cross-algorithm check, and not for quantised ones', async () => {
    const ctx = await gpuContext();
    const shape: ConvShape = { op: 'conv', format: 'f32', algorithm: 'winograd', batch: 2, h: 9, w: 7, cin: 32, cout: 24, stride: 1, upsample: true, padding: 'symmetric' };
    const problems = convProblems(ctx, shape);
    expect(problems.map((p) => p.algorithm)).toEqual(['winograd', 'direct', 'winograd4']);
    const outputs: Float32Array[] = [];
    for (const { problem } of problems) {
      const out = problem.default.run();
      outputs.push(await ctx.read(out));
      ctx.release(out);
      problem.dispose();
    }
    expect(relativeError(outputs[2]!, outputs[0]!)).toBeLessThanOrEqual(CROSS_ALGORITHM_TOLERANCE.f32);
    const f16 = convProblems(ctx, { ...shape, format: 'f16' });
    expect(f16.map((p) => p.algorithm)).toEqual(['winograd', 'direct']);
    for (const { problem } of f16) problem.dispose();
  });
});

describe('conv algorithm choice', () => {
  const shape: ConvWeightShape = { op: 'conv-algorithm', format: 'f32', cin: 64, cout: 64, stride: 1 };
  const times = (over: Partial<ConvWeightTimes>): ConvWeightTimes => ({
    shape,
    shapes: 2,
    ms: { winograd: 10, direct: 20, winograd4: 6 },
    measured: { winograd: 2, direct: 2, winograd4: 2 },
    rejected: new Set(),
    complete: true,
    ...over,
  });

  it('takes the fastest algorithm measured on every shape of the weight', () => {
    const e = convAlgorithmEntry(times({}));
    expect(e?.chosen).toEqual({ op: 'conv-algorithm', algorithm: 'winograd4' });
    expect(e?.default).toEqual({ op: 'conv-algorithm', algorithm: 'winograd' });
    expect([e?.defaultMs, e?.ms, e?.tried, e?.rejected]).toEqual([10, 6, 3, 0]);
  });

  it('passes over an algorithm rejected on a shape, or not measured on all of them', () => {
    const rejected = convAlgorithmEntry(times({ rejected: new Set(['winograd4']), measured: { winograd: 2, direct: 2, winograd4: 1 } }));
    expect(rejected?.chosen).toEqual({ op: 'conv-algorithm', algorithm: 'winograd' });
    expect([rejected?.tried, rejected?.rejected]).toEqual([2, 1]);
    expect(convAlgorithmEntry(times({ measured: { winograd: 2, direct: 2, winograd4: 1 } }))?.chosen).toEqual({ op: 'conv-algorithm', algorithm: 'winograd' });
  });

  it('keeps the default unless another beats it by the minimum gain, and decides nothing on an incomplete search', () => {
    expect(convAlgorithmEntry(times({ ms: { winograd: 10, direct: 20, winograd4: 9.9 } }))?.chosen).toEqual({ op: 'conv-algorithm', algorithm: 'winograd' });
    expect(convAlgorithmEntry(times({ complete: false }))).toBeUndefined();
    expect(convAlgorithmEntry(times({ measured: { winograd: 1, direct: 2, winograd4: 2 } }))).toBeUndefined();
  });
});
