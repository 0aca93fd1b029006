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
import { shapeKey, type GemmShape } from '../../engine/tune/shapes';
import { Deadline, searchProblem, tune, type Problem, type Trial } from '../../engine/tune/tuner';
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
});
