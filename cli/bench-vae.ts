/**
 * On-demand suite `vae` (minutes on a CPU adapter): the real SD VAE (../shared/fixtures/real-configs, seeded random
 * int8 weights of the real shapes) decoding 512×512 and 768×768 and encoding 768×768, on two devices of one adapter:
 * one with WebGPU's default buffer limits (128 MiB bindings), where the large tensors run on row bands
 * (engine/models/bands.ts), and one with the adapter's own limits, where they run whole when the adapter allows it.
 * Reports each run's median wall time, dispatches, peak GPU memory and largest buffer, and the banded output's error
 * relative to the whole one (max |a − b| / max |b|).
 */
import { GpuContext } from '../engine/gpu/context';
import { nodeGpu } from '../engine/gpu/node-gpu';
import { relativeError } from '../engine/tune/compare';
import { parseVaeConfig } from '../engine/models/config';
import { VaeDecoder, VaeEncoder } from '../engine/models/vae';
import { randomSource } from './bench-sd15';
import type { SuiteOptions } from './bench';
import { realModelFiles } from './real-configs';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

interface Case {
  name: string;
  input: number[];
  run: (ctx: GpuContext, models: { decoder: VaeDecoder; encoder: VaeEncoder }, x: ReturnType<GpuContext['upload']>) => ReturnType<GpuContext['upload']>;
}

const CASES: Case[] = [
  { name: 'decode 512×512', input: [1, 64, 64, 4], run: (ctx, m, x) => m.decoder.decode(ctx, x) },
  { name: 'decode 768×768', input: [1, 96, 96, 4], run: (ctx, m, x) => m.decoder.decode(ctx, x) },
  { name: 'encode 768×768', input: [1, 768, 768, 3], run: (ctx, m, x) => m.encoder.encode(ctx, x) },
];

export async function runVaeBench(_ctx: GpuContext, options: SuiteOptions): Promise<void> {
  console.log('\n## SD VAE, real size, random int8 weights: row bands under 128 MiB bindings vs whole tensors\n');
  const files = realModelFiles('sd15');
  const config = parseVaeConfig(JSON.parse((await files.text('vae/config.json'))!));
  const gpu = await nodeGpu();
  const results = new Map<string, Float32Array>();
  console.log('| case | device limits | median wall | dispatches | peak GPU memory | largest buffer | error vs whole |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const defaults of [false, true]) {
    const ctx = await GpuContext.create(gpu, { defaultBufferLimits: defaults });
    try {
      const limits = `${defaults ? 'WebGPU defaults' : 'adapter'}: bindings ${(ctx.maxBindingBytes / 2 ** 20).toFixed(0)} MiB`;
      const models = {
        decoder: await VaeDecoder.load(ctx, config, randomSource(await files.weights('vae')), { format: 'int8' }),
        encoder: await VaeEncoder.load(ctx, config, randomSource(await files.weights('vae')), { format: 'int8' }),
      };
      for (const c of CASES) {
        if (options.filter && !c.name.includes(options.filter)) continue;
        const n = c.input.reduce((a, b) => a * b, 1);
        const x = ctx.upload(new Float32Array(n).map((_, i) => Math.cos(i * 0.37)), c.input, 'input');
        const times: number[] = [];
        let out: Float32Array | undefined;
        let dispatches = 0;
        for (let r = 0; r <= options.repeat; r++) {
          ctx.pool.trim();
          ctx.resetPeaks();
          ctx.profiler.reset();
          const start = performance.now();
          const y = c.run(ctx, models, x);
          out = await ctx.read(y);
          if (r > 0) times.push(performance.now() - start);
          dispatches = ctx.profiler.dispatches;
          ctx.release(y);
        }
        const memory = ctx.memory();
        const key = c.name;
        let error = '—';
        if (!defaults) results.set(key, out!);
        else if (results.has(key)) error = relativeError(out!, results.get(key)!).toExponential(1);
        times.sort((a, b) => a - b);
        console.log(
          `| ${c.name} | ${limits} | ${(times[times.length >> 1]! / 1000).toFixed(2)} s | ${dispatches} | ${mb(memory.peakBytes)} | ${mb(memory.largestBytes)} | ${error} |`,
        );
        ctx.release(x);
      }
      models.decoder.destroy();
      models.encoder.destroy();
    } finally {
      await ctx.destroy();
    }
  }
  console.log('\nPeak GPU memory: weights (decoder and encoder, int8) plus pooled buffers; largest buffer: of the pool, during the run.');
}
