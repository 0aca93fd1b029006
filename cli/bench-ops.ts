/**
 * Op benchmark at Stable Diffusion 1.5 shapes (512×512 image: 64×64 latents, 4096 tokens): GEMMs of the
 * transformer blocks in every weight format, the 3×3 convolution direct, Winograd F(2×2) and F(4×4), self-attention over 4096
 * tokens × 8 heads × 40, GroupNorm(+SiLU). Each case runs once to compile, then `repeat` times: the median wall time
 * from submit to completion, and the mean GPU time from timestamp queries where the adapter has them.
 *
 * With a tuning table for this adapter (`npm run tune -- --ops-bench` tunes exactly these shapes), every case it has
 * an entry for also runs with the tuned configuration, alternating with the default run by run, and both are
 * reported side by side.
 */
import type { GpuContext } from '../engine/gpu/context';
import { STORAGE_FORMATS, type Tensor } from '../engine/gpu/tensor';
import { attention } from '../engine/ops/attention';
import { linear } from '../engine/ops/gemm';
import { groupNorm } from '../engine/ops/group-norm';
import { conv2d, convWeightMatrix, WINOGRAD, type ConvWeightAlgorithm } from '../engine/ops/conv2d';
import { winogradWeight } from '../engine/ops/winograd-common';
import { packWeight } from '../engine/quant/pack';
import type { RecordedShape } from '../engine/tune/record';
import { describeShape, shapeKey, type TunableShape } from '../engine/tune/shapes';
import { describeConfig, TableTuning, type TuningTable } from '../engine/tune/table';

interface Case {
  name: string;
  /** Work per run: FLOPs (compute-bound ops) or bytes moved (memory-bound ones). */
  flops?: number;
  bytes?: number;
  /** The tunable op calls of one run (none for untunable ops). */
  shapes: TunableShape[];
  setup(ctx: GpuContext): { run(): Tensor; inputs: Tensor[]; weights: Tensor[] };
}

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function gemmCase(m: number, k: number, n: number, format: (typeof STORAGE_FORMATS)[number]): Case {
  return {
    name: `GEMM ${m}×${k}×${n} (M×K×N), ${format} weights`,
    flops: 2 * m * k * n,
    shapes: [{ op: 'gemm', b: format, batch: 1, m, k, n }],
    setup(ctx) {
      const x = ctx.upload(random(m * k, 1), [1, m, k], 'x');
      const p = packWeight(random(n * k, 2), n, k, format);
      const w = ctx.weight([n, k], format, p.data, 'w', p.scales);
      return { run: () => linear(ctx, x, w), inputs: [x], weights: [w] };
    },
  };
}

const CONV_NAMES: Record<ConvWeightAlgorithm, string> = { direct: 'direct', winograd: 'Winograd F(2×2,3×3)', winograd4: 'Winograd F(4×4,3×3)' };

function convCase(algorithm: ConvWeightAlgorithm): Case {
  const [h, w, cin, cout] = [64, 64, 320, 320];
  return {
    name: `conv 3×3 ${h}×${w}×${cin}→${cout}, ${CONV_NAMES[algorithm]}, f16 weights`,
    flops: 2 * h * w * cout * 9 * cin,
    shapes: [{ op: 'conv', format: 'f16', algorithm, batch: 1, h, w, cin, cout, stride: 1, upsample: false, padding: 'symmetric' }],
    setup(ctx) {
      const x = ctx.upload(random(h * w * cin, 3), [1, h, w, cin], 'x');
      const oihw = random(cout * cin * 9, 4).map((v) => v * 0.05);
      let weight: Tensor;
      if (algorithm !== 'direct') weight = winogradWeight(WINOGRAD[algorithm], ctx, oihw, cout, cin, 'f16', 'w');
      else {
        const p = packWeight(convWeightMatrix(oihw, cout, cin), cout, 9 * cin, 'f16');
        weight = ctx.weight([cout, 9 * cin], 'f16', p.data, 'w', p.scales);
      }
      return { run: () => conv2d(ctx, x, weight, { algorithm }), inputs: [x], weights: [weight] };
    },
  };
}

const attentionCase: Case = {
  name: 'attention 4096 tokens × 8 heads × 40 (self, fused QKV)',
  flops: 4 * 4096 * 4096 * 8 * 40,
  shapes: [{ op: 'attention', batch: 1, tq: 4096, tk: 4096, heads: 8, headDim: 40, causal: false }],
  setup(ctx) {
    const qkv = ctx.upload(random(4096 * 960, 5), [1, 4096, 960], 'qkv');
    return {
      run: () => attention(ctx, { q: { tensor: qkv, offset: 0 }, k: { tensor: qkv, offset: 320 }, v: { tensor: qkv, offset: 640 }, heads: 8 }),
      inputs: [qkv],
      weights: [],
    };
  },
};

const groupNormCase: Case = {
  name: 'GroupNorm+SiLU 64×64×320, 32 groups',
  // Statistics read x once, the apply pass reads it again and writes the result.
  bytes: 3 * 64 * 64 * 320 * 4,
  shapes: [],
  setup(ctx) {
    const x = ctx.upload(random(64 * 64 * 320, 6), [1, 64, 64, 320], 'x');
    const gamma = ctx.upload(random(320, 7), [320], 'gamma');
    const beta = ctx.upload(random(320, 8), [320], 'beta');
    return { run: () => groupNorm(ctx, x, gamma, beta, { groups: 32, eps: 1e-5, silu: true }), inputs: [x, gamma, beta], weights: [] };
  },
};

const CASES: Case[] = [
  ...STORAGE_FORMATS.map((f) => gemmCase(4096, 320, 320, f)),
  ...STORAGE_FORMATS.map((f) => gemmCase(4096, 320, 1280, f)),
  convCase('direct'),
  convCase('winograd'),
  convCase('winograd4'),
  attentionCase,
  groupNormCase,
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The shapes of the bench's cases, for `npm run tune -- --ops-bench` (one call each). */
export function opsBenchShapes(): RecordedShape[] {
  return CASES.flatMap((c) => c.shapes).map((shape) => ({ shape, key: shapeKey(shape), count: 1 }));
}

/** One timed run: GPU time from timestamps where taken, else wall time from submit to completion. */
async function timeRun(ctx: GpuContext, run: () => Tensor): Promise<{ wall: number; gpu?: number }> {
  ctx.profiler.reset();
  const start = performance.now();
  const out = run();
  await ctx.sync();
  const wall = performance.now() - start;
  ctx.release(out);
  const report = await ctx.profiler.report();
  const gpu = report.some((r) => r.gpuMs !== undefined) ? report.reduce((sum, r) => sum + (r.gpuMs ?? 0), 0) : undefined;
  return gpu === undefined ? { wall } : { wall, gpu };
}

export async function runOpsBench(ctx: GpuContext, options: { repeat: number; filter?: string; tuning?: TuningTable }): Promise<void> {
  const tuning = options.tuning && new TableTuning(options.tuning);
  console.log('\n## Ops at SD 1.5 shapes\n');
  console.log(tuning ? `Tuning table of ${options.tuning!.updated.slice(0, 10)}, ${Object.keys(options.tuning!.entries).length} entries.\n` : 'No tuning table for this adapter: default configurations only (npm run tune -- --ops-bench).\n');
  console.log('| op | wall time (ms) | GPU time (ms) | rate (from GPU time where measured) | tuned (ms) | tuned vs default | tuned configuration |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  const times = new Map<string, number>();
  const previous = ctx.tuning;
  try {
    for (const c of CASES) {
      if (options.filter && !c.name.toLowerCase().includes(options.filter.toLowerCase())) continue;
      const { run, inputs, weights } = c.setup(ctx);
      const entries = c.shapes.map((s) => options.tuning?.entries[shapeKey(s)]).filter((e) => e !== undefined);
      const configs: (typeof previous)[] = entries.length ? [undefined, tuning] : [undefined];
      for (const config of configs) {
        ctx.tuning = config;
        ctx.release(run());
        await ctx.sync();
      }
      const runs = configs.map(() => ({ wall: [] as number[], gpu: [] as number[] }));
      // Default and tuned alternate, so a change in machine load during the case weighs on both alike.
      for (let i = 0; i < options.repeat; i++) {
        for (const [j, config] of configs.entries()) {
          ctx.tuning = config;
          const t = await timeRun(ctx, run);
          runs[j]!.wall.push(t.wall);
          if (t.gpu !== undefined) runs[j]!.gpu.push(t.gpu);
        }
      }
      // Where timestamps exist, rates come from GPU time: on a fast GPU the wall time of one op is mostly the fixed
      // cost of a submit and its completion callback.
      const ms = runs.map((r) => (r.gpu.length ? median(r.gpu) : median(r.wall)));
      const timed = runs[0]!.gpu.length > 0;
      times.set(c.name, ms[0]!);
      const rate = c.flops ? `${(c.flops / ms[0]! / 1e6).toFixed(2)} GFLOP/s` : `${(c.bytes! / ms[0]! / 1e6).toFixed(2)} GB/s`;
      const tuned = entries.length
        ? `${ms[1]!.toFixed(2)} | ${(ms[0]! / ms[1]!).toFixed(2)}× | ${entries.map((e) => (e.chosen === e.default || JSON.stringify(e.chosen) === JSON.stringify(e.default) ? 'default kept' : describeConfig(e.chosen))).join('; ')}`
        : `– | – | ${c.shapes.length ? `not tuned (${c.shapes.map(describeShape).join('; ')})` : 'not tunable'}`;
      console.log(`| ${c.name} | ${median(runs[0]!.wall).toFixed(2)} | ${timed ? ms[0]!.toFixed(3) : '–'} | ${rate} | ${tuned} |`);
      ctx.release(...inputs);
      for (const w of weights) ctx.destroyWeight(w);
      ctx.pool.trim();
    }
  } finally {
    ctx.tuning = previous;
  }
  const conv = (algorithm: ConvWeightAlgorithm) => [...times].find(([n]) => n.includes(`, ${CONV_NAMES[algorithm]},`))?.[1];
  const [direct, f2, f4] = [conv('direct'), conv('winograd'), conv('winograd4')];
  if (direct && f2) console.log(`\nWinograd F(2×2,3×3) vs direct on 64×64×320→320: ${(direct / f2).toFixed(2)}× (${f2.toFixed(1)} ms vs ${direct.toFixed(1)} ms)`);
  if (direct && f4) {
    console.log(
      `\nWinograd F(4×4,3×3) vs direct on 64×64×320→320: ${(direct / f4).toFixed(2)}× (${f4.toFixed(1)} ms vs ${direct.toFixed(1)} ms)` +
        (f2 ? `; vs F(2×2,3×3): ${(f2 / f4).toFixed(2)}×` : '') +
        `. Timed with f16 weights like the others; the tuner offers F(4×4) for f32 weights only (its f16 error against direct is 5.5e-3, F(2×2)'s 4e-4).`,
    );
  }
}
