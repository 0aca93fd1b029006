/**
 * Op benchmark at Stable Diffusion 1.5 shapes (512×512 image: 64×64 latents, 4096 tokens): GEMMs of the
 * transformer blocks in every weight format, the 3×3 convolution direct and Winograd, self-attention over 4096
 * tokens × 8 heads × 40, GroupNorm(+SiLU). Each case runs once to compile, then `repeat` times: the median wall time
 * from submit to completion, and the mean GPU time from timestamp queries where the adapter has them.
 */
import type { GpuContext } from '../engine/gpu/context';
import { STORAGE_FORMATS, type Tensor } from '../engine/gpu/tensor';
import { attention } from '../engine/ops/attention';
import { conv2d, convWeightMatrix } from '../engine/ops/conv2d';
import { linear } from '../engine/ops/gemm';
import { groupNorm } from '../engine/ops/group-norm';
import { winogradWeight } from '../engine/ops/winograd';
import { packWeight } from '../engine/quant/pack';

interface Case {
  name: string;
  /** Work per run: FLOPs (compute-bound ops) or bytes moved (memory-bound ones). */
  flops?: number;
  bytes?: number;
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
    setup(ctx) {
      const x = ctx.upload(random(m * k, 1), [1, m, k], 'x');
      const p = packWeight(random(n * k, 2), n, k, format);
      const w = ctx.weight([n, k], format, p.data, 'w', p.scales);
      return { run: () => linear(ctx, x, w), inputs: [x], weights: [w] };
    },
  };
}

function convCase(algorithm: 'direct' | 'winograd'): Case {
  const [h, w, cin, cout] = [64, 64, 320, 320];
  return {
    name: `conv 3×3 ${h}×${w}×${cin}→${cout}, ${algorithm}, f16 weights`,
    flops: 2 * h * w * cout * 9 * cin,
    setup(ctx) {
      const x = ctx.upload(random(h * w * cin, 3), [1, h, w, cin], 'x');
      const oihw = random(cout * cin * 9, 4).map((v) => v * 0.05);
      let weight: Tensor;
      if (algorithm === 'winograd') weight = winogradWeight(ctx, oihw, cout, cin, 'f16', 'w');
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
  attentionCase,
  groupNormCase,
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runOpsBench(ctx: GpuContext, options: { repeat: number; filter?: string }): Promise<void> {
  console.log('\n## Ops at SD 1.5 shapes\n');
  console.log('| op | wall time (ms) | GPU time (ms) | rate (from GPU time where measured) |');
  console.log('| --- | ---: | ---: | ---: |');
  const times = new Map<string, number>();
  for (const c of CASES) {
    if (options.filter && !c.name.toLowerCase().includes(options.filter.toLowerCase())) continue;
    const { run, inputs, weights } = c.setup(ctx);
    ctx.release(run());
    await ctx.sync();
    const wall: number[] = [];
    ctx.profiler.reset();
    for (let i = 0; i < options.repeat; i++) {
      const start = performance.now();
      const out = run();
      await ctx.sync();
      wall.push(performance.now() - start);
      ctx.release(out);
    }
    const report = await ctx.profiler.report();
    const timed = report.some((r) => r.gpuMs !== undefined);
    const gpuMs = report.reduce((sum, r) => sum + (r.gpuMs ?? 0), 0) / options.repeat;
    const wallMs = median(wall);
    // Where timestamps exist, rates come from GPU time: on a fast GPU the wall time of one op is mostly the fixed
    // cost of a submit and its completion callback.
    const ms = timed && gpuMs > 0 ? gpuMs : wallMs;
    times.set(c.name, ms);
    const rate = c.flops ? `${(c.flops / ms / 1e6).toFixed(2)} GFLOP/s` : `${(c.bytes! / ms / 1e6).toFixed(2)} GB/s`;
    console.log(`| ${c.name} | ${wallMs.toFixed(2)} | ${timed ? gpuMs.toFixed(3) : '–'} | ${rate} |`);
    ctx.release(...inputs);
    for (const w of weights) ctx.destroyWeight(w);
    ctx.pool.trim();
  }
  const direct = [...times].find(([n]) => n.includes('direct'))?.[1];
  const winograd = [...times].find(([n]) => n.includes('winograd'))?.[1];
  if (direct && winograd) console.log(`\nWinograd F(2×2,3×3) vs direct on 64×64×320→320: ${(direct / winograd).toFixed(2)}× (${winograd.toFixed(1)} ms vs ${direct.toFixed(1)} ms)`);
}
