/**
 * The auto-tuner: for each recorded op shape, times the op's default configuration and a list of candidates
 * (engine/tune/candidates.ts) on this device, and keeps the fastest: GEMM tiles; for 3×3 convolutions the tile of
 * each algorithm and, per weight, direct vs Winograd F(2×2) vs Winograd F(4×4); for attention the tile (key block, key groups, rows) and the
 * query chunk. The result is a `TuningTable` for this adapter.
 *
 * Method (llm.c's: validate, then time):
 * - Inputs are seeded random values; the default configuration runs first and its output is the reference.
 * - Every candidate's output is compared with it before it is timed: max |candidate − reference| / max |reference|
 *   ≤ `TUNE_TOLERANCE` (1e-4, the project's f32 tolerance; tiles and key groups only reorder f32 sums). A Winograd
 *   weight in a quantised format rounds other numbers than the direct weight does (G g Gᵀ instead of g), so the other
 *   algorithm's reference is checked against the default one with `CROSS_ALGORITHM_TOLERANCE` of its format. A
 *   candidate that fails is rejected and never timed; an algorithm that fails for any shape of a weight is not
 *   chosen for it. F(4×4) is offered for f32 weights only (`WINOGRAD4_FORMATS`).
 * - Time: GPU timestamps summed over the call's dispatches where the context takes them, else wall time from
 *   submit to completion; the median of `repeat` runs after a first (compiling, validating) run. A candidate whose
 *   first timed run is 1.5× slower than the best so far is not run again.
 * - The default is kept unless a candidate's median beats it by more than `MIN_GAIN` (3 %): run-to-run noise alone
 *   must not swap configurations.
 * - A conv shape's algorithms are first timed with their default tiles, then their tiles are searched, the fastest
 *   algorithm's first: a slice too short for every tile still decides the algorithm.
 * - Shapes are searched in order of their share of the model's multiply-adds, each within a slice of the remaining
 *   budget (its share of the remaining work, at least half an even split); the slice is checked before every run,
 *   and shapes the budget leaves out keep their defaults (they get no entry). Tiles that won before go first.
 *
 * Timing resets the context's profiler.
 */
import type { GpuContext } from '../gpu/context';
import { relativeError } from './compare';
import type { StorageFormat, Tensor } from '../gpu/tensor';
import { attention, attentionChunks, DEFAULT_ATTENTION_BUDGET, untunedAttentionTile } from '../ops/attention';
import { conv2d, conv2dOutputSize, convWeightMatrix, preferredConvAlgorithm, untunedConvTile, WINOGRAD, type ConvTile, type ConvWeightAlgorithm } from '../ops/conv2d';
import { defaultGemmTile, linear, matmul, type GemmTile } from '../ops/gemm';
import { winogradWeight } from '../ops/winograd-common';
import { packWeight } from '../quant/pack';
import { attentionCandidates, attentionLimits, convCandidates, gemmCandidates } from './candidates';
import type { RecordedShape } from './record';
import { describeShape, shapeFlops, shapeKey, type AttentionShape, type ConvShape, type ConvWeightShape, type GemmShape } from './shapes';
import { emptyTable, type TunedConfig, type TuningEntry, type TuningTable } from './table';

export const TUNE_TOLERANCE = 1e-4;

/** Winograd vs direct reference outputs: the weight formats' own rounding of differently transformed weights. */
export const CROSS_ALGORITHM_TOLERANCE: Record<StorageFormat, number> = { f32: 1e-4, f16: 2e-3, int8: 2e-2, int4: 0.2 };

/**
 * Weight formats the tuner offers Winograd F(4×4, 3×3) for. Its transforms amplify the rounding of a quantised U
 * about 13× more than F(2×2)'s: against the direct convolution of the same format (8×8×Cin→Cout, Cin = Cout of 32,
 * 64 and 320, the tuner's data) F(4×4) is off by 5.5e-3 in f16, 0.14–0.18 in int8 and 1.9–2.4 in int4, where F(2×2)
 * is off by 4e-4, 1e-2 and 0.15–0.18, so every quantised format fails `CROSS_ALGORITHM_TOLERANCE` and would only
 * cost the search its compile time. In f32 it is off by 6e-7 to 7e-7 (1e-4 allowed).
 */
export const WINOGRAD4_FORMATS: readonly StorageFormat[] = ['f32'];

const MIN_GAIN = 0.03;
const EARLY_REJECT = 1.5;

export interface TuneProgress {
  /** Shapes finished (tuned or left out) and in all. */
  done: number;
  total: number;
  /** The shape just finished, and its entry when it was tuned. */
  key?: string;
  description?: string;
  entry?: TuningEntry;
  elapsedMs: number;
  budgetMs: number;
}

export interface TuneOptions {
  /** Wall-clock budget for the whole search, in milliseconds. */
  budgetMs: number;
  /** Timed runs per configuration (median); default 3. */
  repeat?: number;
  /** Time every valid tile instead of the short lists. */
  exhaustive?: boolean;
  onProgress?(progress: TuneProgress): void;
  signal?: AbortSignal;
  /** Add to this table (same adapter) instead of a new one. */
  table?: TuningTable;
}

export interface TuneResult {
  table: TuningTable;
  /** Shapes the budget (or a cancel) left untuned. */
  skipped: number;
  elapsedMs: number;
  stopped?: 'budget' | 'cancelled';
}

/** One configuration of one op call, ready to run on prepared inputs. */
export interface Trial {
  config: TunedConfig;
  run(): Tensor;
}

/** One shape's search: its default, the candidates, and the inputs to free afterwards. */
export interface Problem {
  default: Trial;
  candidates: Trial[];
  dispose(): void;
}

export interface SearchResult {
  defaultMs: number;
  best: Trial;
  ms: number;
  tried: number;
  rejected: number;
  /** The default's output, the reference every candidate matched. */
  reference: Float32Array;
}

/** A clock and budget: of one tuning run, or (`slice`) of one shape's search within it. */
export class Deadline {
  private readonly start = performance.now();
  constructor(
    readonly budgetMs: number,
    private readonly signal?: AbortSignal,
    private readonly parent?: Deadline,
  ) {}
  get elapsedMs(): number {
    return performance.now() - this.start;
  }
  get remainingMs(): number {
    return Math.max(0, this.budgetMs - this.elapsedMs);
  }
  get stop(): 'budget' | 'cancelled' | undefined {
    if (this.signal?.aborted) return 'cancelled';
    return this.parent?.stop ?? (this.elapsedMs >= this.budgetMs ? 'budget' : undefined);
  }
  /** A deadline `ms` from now that also stops when this one does. */
  slice(ms: number): Deadline {
    return new Deadline(ms, this.signal, this);
  }
}

async function timeOnce(ctx: GpuContext, run: () => Tensor): Promise<number> {
  if (ctx.profiler.timing) {
    ctx.profiler.reset();
    const out = run();
    await ctx.sync();
    ctx.release(out);
    const rows = await ctx.profiler.report();
    if (rows.some((r) => r.gpuMs !== undefined)) return rows.reduce((s, r) => s + (r.gpuMs ?? 0), 0);
    return timeWall(ctx, run);
  }
  return timeWall(ctx, run);
}

async function timeWall(ctx: GpuContext, run: () => Tensor): Promise<number> {
  const start = performance.now();
  const out = run();
  await ctx.sync();
  const ms = performance.now() - start;
  ctx.release(out);
  return ms;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function output(ctx: GpuContext, trial: Trial): Promise<Float32Array> {
  const out = trial.run();
  const values = await ctx.read(out);
  ctx.release(out);
  return values;
}

/**
 * Runs one shape's search: the default (reference and time), then each candidate validated and timed while the
 * deadline allows. Returns undefined when the deadline passed before the default was timed. `check` vets the
 * reference itself (the other conv algorithm's default against the default algorithm's output). With `baseline`
 * (an earlier search of the same default) the default is not run again.
 */
export async function searchProblem(
  ctx: GpuContext,
  problem: Problem,
  deadline: Deadline,
  options: {
    repeat?: number;
    check?: (reference: Float32Array) => boolean;
    order?: (candidates: Trial[]) => Trial[];
    baseline?: { reference: Float32Array; defaultMs: number };
  } = {},
): Promise<SearchResult | undefined> {
  const repeat = options.repeat ?? 3;
  let reference: Float32Array;
  let defaultMs: number;
  if (options.baseline) ({ reference, defaultMs } = options.baseline);
  else {
    if (deadline.stop) return undefined;
    reference = await output(ctx, problem.default);
    if (options.check && !options.check(reference)) return undefined;
    const times: number[] = [];
    for (let i = 0; i < repeat && !(i > 0 && deadline.stop); i++) times.push(await timeOnce(ctx, problem.default.run));
    defaultMs = median(times);
  }
  const result: SearchResult = { defaultMs, best: problem.default, ms: defaultMs, tried: 0, rejected: 0, reference };
  for (const trial of options.order ? options.order(problem.candidates) : problem.candidates) {
    if (deadline.stop) break;
    const values = await output(ctx, trial);
    if (!(relativeError(values, reference) <= TUNE_TOLERANCE)) {
      result.rejected++;
      continue;
    }
    result.tried++;
    const runs = [await timeOnce(ctx, trial.run)];
    if (runs[0]! > EARLY_REJECT * result.ms) continue;
    while (runs.length < repeat && !deadline.stop) runs.push(await timeOnce(ctx, trial.run));
    const ms = median(runs);
    if (ms < result.ms && ms < defaultMs * (1 - MIN_GAIN)) {
      result.best = trial;
      result.ms = ms;
    }
  }
  return result;
}

/** Seeded values in [-scale, scale): every tuning run times the same data. */
function random(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale;
  }
  return out;
}

function gemmProblem(ctx: GpuContext, s: GemmShape, exhaustive: boolean): Problem {
  const inputs: Tensor[] = [];
  const weights: Tensor[] = [];
  let run: (tile: GemmTile) => Tensor;
  if (s.b === 'kn' || s.batch > 1) {
    const a = ctx.upload(random(s.batch * s.m * s.k, 1), [s.batch, s.m, s.k], 'tune.a');
    const transposeB = s.b !== 'kn';
    const b = ctx.upload(random(s.batch * s.k * s.n, 2), transposeB ? [s.batch, s.n, s.k] : [s.batch, s.k, s.n], 'tune.b');
    inputs.push(a, b);
    run = (tile) => matmul(ctx, a, b, { transposeB, tile });
  } else {
    const x = ctx.upload(random(s.m * s.k, 1), [s.m, s.k], 'tune.x');
    const p = packWeight(random(s.n * s.k, 2), s.n, s.k, s.b);
    const w = ctx.weight([s.n, s.k], s.b, p.data, 'tune.w', p.scales);
    inputs.push(x);
    weights.push(w);
    run = (tile) => linear(ctx, x, w, { tile });
  }
  const trial = (tile: GemmTile): Trial => ({ config: { op: 'gemm', tile }, run: () => run(tile) });
  // The baseline is what the op runs without a table on this adapter (CPU adapters have their own tiles).
  const untuned = defaultGemmTile(ctx.adapter, s.n);
  return {
    default: trial(untuned),
    candidates: gemmCandidates(ctx, untuned, { exhaustive }).map(trial),
    dispose: () => {
      ctx.release(...inputs);
      for (const w of weights) ctx.destroyWeight(w);
    },
  };
}

/** Every algorithm's problem for one conv shape (the default algorithm first), sharing input and weights. */
export function convProblems(ctx: GpuContext, s: ConvShape): { algorithm: ConvWeightAlgorithm; problem: Problem }[] {
  const x = ctx.upload(random(s.batch * s.h * s.w * s.cin, 3), [s.batch, s.h, s.w, s.cin], 'tune.x');
  const oihw = random(s.cout * s.cin * 9, 4, 0.05);
  const bias = ctx.upload(random(s.cout, 5), [s.cout], 'tune.bias');
  const preferred = preferredConvAlgorithm(s.cin, s.stride);
  const algorithms: ConvWeightAlgorithm[] = [preferred];
  if (s.stride === 1 && s.padding === 'symmetric') {
    algorithms.push(preferred === 'direct' ? 'winograd' : 'direct');
    if (WINOGRAD4_FORMATS.includes(s.format)) algorithms.push('winograd4');
  }
  const [, outH, outW] = conv2dOutputSize([s.batch, s.h, s.w, s.cin], s.stride, s.upsample, s.padding);
  return algorithms.map((algorithm, i) => {
    const side = algorithm === 'direct' ? 1 : WINOGRAD[algorithm].m;
    const rows = s.batch * Math.ceil(outH / side) * Math.ceil(outW / side);
    const untuned = untunedConvTile(ctx.adapter, rows, s.cout);
    let w: Tensor;
    if (algorithm !== 'direct') w = winogradWeight(WINOGRAD[algorithm], ctx, oihw, s.cout, s.cin, s.format, 'tune.w');
    else {
      const p = packWeight(convWeightMatrix(oihw, s.cout, s.cin), s.cout, 9 * s.cin, s.format);
      w = ctx.weight([s.cout, 9 * s.cin], s.format, p.data, 'tune.w', p.scales);
    }
    const trial = (tile: ConvTile): Trial => ({
      config: { op: 'conv', tile },
      run: () => conv2d(ctx, x, w, { bias, stride: s.stride, upsample: s.upsample, padding: s.padding, algorithm, tile }),
    });
    return {
      algorithm,
      problem: {
        default: trial(untuned),
        candidates: convCandidates(ctx, untuned).map(trial),
        dispose: () => {
          ctx.destroyWeight(w);
          if (i === algorithms.length - 1) ctx.release(x, bias);
        },
      },
    };
  });
}

function attentionProblem(ctx: GpuContext, s: AttentionShape, exhaustive: boolean): Problem {
  const c = s.heads * s.headDim;
  const q = ctx.upload(random(s.batch * s.tq * c, 6), [s.batch, s.tq, c], 'tune.q');
  const kv = ctx.upload(random(s.batch * s.tk * 2 * c, 7), [s.batch, s.tk, 2 * c], 'tune.kv');
  const base = untunedAttentionTile(ctx.adapter, s.headDim, attentionLimits(ctx), s.tk);
  const trial = (tile: typeof base, budgetBytes?: number): Trial => ({
    config: { op: 'attention', tile, ...(budgetBytes === undefined ? {} : { budgetBytes }) },
    run: () =>
      attention(ctx, {
        q,
        k: { tensor: kv, offset: 0 },
        v: { tensor: kv, offset: c },
        heads: s.heads,
        causal: s.causal,
        tile,
        ...(budgetBytes === undefined ? {} : { budgetBytes }),
      }),
  });
  const candidates = attentionCandidates(ctx, s.headDim, s.tk, { exhaustive }).map((t) => trial(t));
  // Smaller query chunks (more dispatches, each shorter) where they change the split at all.
  const chunks = (budget: number) => attentionChunks(s.batch, s.tq, s.tk, s.heads, budget, base.rows).count;
  for (const budget of [DEFAULT_ATTENTION_BUDGET / 2, DEFAULT_ATTENTION_BUDGET / 4]) {
    if (chunks(budget) !== chunks(DEFAULT_ATTENTION_BUDGET) && chunks(budget) <= 64) candidates.push(trial(base, budget));
  }
  return { default: trial(base), candidates, dispose: () => ctx.release(q, kv) };
}

function entryOf(shape: GemmShape | ConvShape | AttentionShape, r: SearchResult, defaultConfig: TunedConfig): TuningEntry {
  return { shape, default: defaultConfig, chosen: r.best.config, defaultMs: r.defaultMs, ms: r.ms, tried: r.tried, rejected: r.rejected };
}

/**
 * One conv weight (format, Cin, Cout, stride) over the model's shapes that use it: the time of each algorithm summed
 * over them, on how many it was measured, the algorithms rejected for a wrong result, and whether the budget reached
 * every shape.
 */
export interface ConvWeightTimes {
  shape: ConvWeightShape;
  shapes: number;
  ms: Partial<Record<ConvWeightAlgorithm, number>>;
  measured: Partial<Record<ConvWeightAlgorithm, number>>;
  rejected: Set<ConvWeightAlgorithm>;
  complete: boolean;
}

/**
 * The weight's algorithm entry: the fastest algorithm measured on every one of its shapes and rejected on none, when
 * it beats the default (`preferredConvAlgorithm`) by `MIN_GAIN`. None when the budget left a shape out, for stride 2
 * (direct only), or when the default itself has no time for every shape.
 */
export function convAlgorithmEntry(g: ConvWeightTimes): TuningEntry | undefined {
  const preferred = preferredConvAlgorithm(g.shape.cin, g.shape.stride);
  const valid = (Object.keys(g.measured) as ConvWeightAlgorithm[]).filter((a) => g.measured[a] === g.shapes && !g.rejected.has(a));
  if (!g.complete || g.shape.stride !== 1 || !valid.includes(preferred)) return undefined;
  const defaultMs = g.ms[preferred]!;
  const fastest = valid.reduce((best, a) => (g.ms[a]! < g.ms[best]! ? a : best), preferred);
  const chosen = g.ms[fastest]! < defaultMs * (1 - MIN_GAIN) ? fastest : preferred;
  return {
    shape: g.shape,
    default: { op: 'conv-algorithm', algorithm: preferred },
    chosen: { op: 'conv-algorithm', algorithm: chosen },
    defaultMs,
    ms: g.ms[chosen]!,
    tried: valid.length,
    rejected: g.rejected.size,
  };
}

/** Tunes every shape of `shapes` (from `recordModelShapes`, or made by hand) within the budget. */
export async function tune(ctx: GpuContext, shapes: readonly RecordedShape[], options: TuneOptions): Promise<TuneResult> {
  const deadline = new Deadline(options.budgetMs, options.signal);
  const table = options.table ? { ...options.table, entries: { ...options.table.entries } } : emptyTable(ctx.adapter);
  table.updated = new Date().toISOString();
  const repeat = options.repeat ?? 3;
  const exhaustive = options.exhaustive ?? false;

  // Conv shapes are searched once for both algorithms: drop the algorithm the recording loaded them with.
  const work = new Map<string, RecordedShape>();
  for (const r of shapes) {
    if (r.shape.op === 'conv-algorithm') continue;
    const shape = r.shape.op === 'conv' ? { ...r.shape, algorithm: preferredConvAlgorithm(r.shape.cin, r.shape.stride) } : r.shape;
    const key = shapeKey(shape);
    const seen = work.get(key);
    if (seen) seen.count += r.count;
    else work.set(key, { shape, key, count: r.count });
  }
  const queue = [...work.values()].sort((a, b) => shapeFlops(b.shape) * b.count - shapeFlops(a.shape) * a.count);
  const weights = new Map<string, ConvWeightTimes>();
  let done = 0;
  let skipped = 0;
  const report = (r?: RecordedShape, entry?: TuningEntry) =>
    options.onProgress?.({
      done,
      total: queue.length,
      ...(r ? { key: r.key, description: describeShape(r.shape) } : {}),
      ...(entry ? { entry } : {}),
      elapsedMs: deadline.elapsedMs,
      budgetMs: options.budgetMs,
    });
  report();

  // Candidates that won before are tried first: an adapter's good tiles tend to win across shapes, and a shape's
  // slice of the budget may end before its list does.
  const wins = new Map<string, number>();
  const configKey = (t: Trial) => JSON.stringify(t.config);
  const order = (candidates: Trial[]) => [...candidates].sort((a, b) => (wins.get(configKey(b)) ?? 0) - (wins.get(configKey(a)) ?? 0));
  const won = (r: SearchResult) => {
    if (r.ms < r.defaultMs) wins.set(configKey(r.best), (wins.get(configKey(r.best)) ?? 0) + 1);
  };
  const weightOf = (r: RecordedShape) => shapeFlops(r.shape) * r.count;
  let remainingWeight = queue.reduce((sum, r) => sum + weightOf(r), 0);

  for (const [index, r] of queue.entries()) {
    // This shape's share of the remaining budget: by its share of the remaining work, but at least half an even
    // split, so the many small shapes of a model are not all starved by its few large ones.
    const share = Math.max(remainingWeight > 0 ? weightOf(r) / remainingWeight : 0, 0.5 / (queue.length - index));
    remainingWeight -= weightOf(r);
    const slice = deadline.slice(deadline.remainingMs * Math.min(1, share));
    const searchOptions = { repeat, order };
    let entry: TuningEntry | undefined;
    const s = r.shape;
    if (s.op === 'gemm' || s.op === 'attention') {
      if (!slice.stop) {
        const problem = s.op === 'gemm' ? gemmProblem(ctx, s, exhaustive) : attentionProblem(ctx, s, exhaustive);
        try {
          const result = await searchProblem(ctx, problem, slice, searchOptions);
          if (result) {
            won(result);
            entry = entryOf(s, result, problem.default.config);
          }
        } finally {
          problem.dispose();
        }
      }
    } else if (s.op === 'conv') {
      const weightShape: ConvWeightShape = { op: 'conv-algorithm', format: s.format, cin: s.cin, cout: s.cout, stride: s.stride };
      const wkey = shapeKey(weightShape);
      const group = weights.get(wkey) ?? { shape: weightShape, shapes: 0, ms: {}, measured: {}, rejected: new Set(), complete: true };
      group.shapes++;
      weights.set(wkey, group);
      // A weight's algorithm is chosen only from every one of its shapes timed with both algorithms.
      group.complete &&= !slice.stop;
    }
    if (s.op === 'conv' && !slice.stop) {
      const group = weights.get(shapeKey({ op: 'conv-algorithm', format: s.format, cin: s.cin, cout: s.cout, stride: s.stride }))!;
      const problems = convProblems(ctx, s);
      let reference: Float32Array | undefined;
      try {
        // Every algorithm's default first (validated against the default algorithm's output), so a slice that ends
        // during the tile searches still compares the algorithms; then the tiles, most promising algorithm first.
        const baselines = new Map<ConvWeightAlgorithm, SearchResult>();
        for (const { algorithm, problem } of problems) {
          const check = reference && ((values: Float32Array) => relativeError(values, reference!) <= CROSS_ALGORITHM_TOLERANCE[s.format]);
          const result = await searchProblem(ctx, { ...problem, candidates: [] }, slice, { ...searchOptions, ...(check ? { check } : {}) });
          if (!result) {
            if (slice.stop) group.complete = false;
            else group.rejected.add(algorithm);
            continue;
          }
          reference ??= result.reference;
          baselines.set(algorithm, result);
        }
        const ranked = problems.filter((p) => baselines.has(p.algorithm)).sort((a, b) => baselines.get(a.algorithm)!.defaultMs - baselines.get(b.algorithm)!.defaultMs);
        for (const { algorithm, problem } of ranked) {
          const base = baselines.get(algorithm)!;
          const result = (await searchProblem(ctx, problem, slice, { ...searchOptions, baseline: base }))!;
          won(result);
          group.measured[algorithm] = (group.measured[algorithm] ?? 0) + 1;
          group.ms[algorithm] = (group.ms[algorithm] ?? 0) + result.ms * r.count;
          const shape: ConvShape = { ...s, algorithm };
          const e = entryOf(shape, result, problem.default.config);
          table.entries[shapeKey(shape)] = e;
          if (algorithm === s.algorithm) entry = e;
        }
      } finally {
        for (const { problem } of problems) problem.dispose();
      }
    }
    if (entry) table.entries[r.key] = entry;
    else skipped++;
    ctx.pool.trim();
    done++;
    report(r, entry);
  }

  for (const g of weights.values()) {
    const entry = convAlgorithmEntry(g);
    if (entry) table.entries[shapeKey(g.shape)] = entry;
  }
  const stopped = deadline.stop;
  return { table, skipped, elapsedMs: deadline.elapsedMs, ...(stopped ? { stopped } : {}) };
}
