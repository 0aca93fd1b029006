/**
 * `npm run bench -- unet`: one UNet evaluation of ../shared/bench/bench-unet on our engine in Node (Dawn): the
 * median wall time over `repeat` evaluations after one warm-up (which compiles the pipelines), dispatches per
 * evaluation, peak pooled bytes, the error against the PyTorch reference, and — where the adapter has timestamps —
 * GPU time per op from a separate profiled evaluation (timing gives every dispatch its own pass, so the timed
 * evaluations run on an untimed context, as the pipeline does).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GpuContext } from '../engine/gpu/context';
import { nodeGpu } from '../engine/gpu/node-gpu';
import type { StorageFormat } from '../engine/gpu/tensor';
import { NodeFileSource } from '../engine/io/node-file';
import { openSafetensors } from '../engine/io/safetensors';
import { safetensorsParams } from '../engine/models/weights-source';
import type { TuningTable } from '../engine/tune/table';
import { errors, floats, median, UNetBench, type BenchCase, type BenchInputs } from './bench-unet-case';

export const BENCH_UNET = resolve('../shared/bench/bench-unet');

export function readBenchCase(): { benchCase: BenchCase; inputs: BenchInputs } {
  const benchCase = JSON.parse(readFileSync(join(BENCH_UNET, 'case.json'), 'utf8')) as BenchCase;
  const read = (file: string) => floats(readFileSync(join(BENCH_UNET, file)));
  return {
    benchCase,
    inputs: { sample: read(benchCase.sample.file), text: read(benchCase.encoder_hidden_states.file), reference: read(benchCase.out.file) },
  };
}

async function openBench(ctx: GpuContext, format: StorageFormat, tuning?: TuningTable): Promise<{ bench: UNetBench; close: () => Promise<void> }> {
  const { benchCase, inputs } = readBenchCase();
  const file = await NodeFileSource.open(join(BENCH_UNET, 'unet/diffusion_pytorch_model.safetensors'));
  const config = JSON.parse(readFileSync(join(BENCH_UNET, 'unet/config.json'), 'utf8')) as unknown;
  const bench = await UNetBench.open(ctx, config, safetensorsParams(await openSafetensors(file, 'bench-unet')), benchCase, inputs, format, tuning);
  return { bench, close: () => file.close() };
}

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export async function runUNetBench(timedCtx: GpuContext, options: { repeat: number; weights?: StorageFormat; tuning?: TuningTable }): Promise<void> {
  const format = options.weights ?? 'f32';
  const { inputs } = readBenchCase();
  console.log(`\n## UNet evaluation: bench-unet (batch 2, 32×32 latents, ${format} weights), our engine in Node (Dawn)\n`);
  console.log(`Configuration: ${options.tuning ? `tuning table of ${options.tuning.updated.slice(0, 10)} (${Object.keys(options.tuning.entries).length} entries)` : 'default op configurations (no tuning table)'}.\n`);

  const ctx = await GpuContext.create(await nodeGpu());
  let row: string;
  try {
    const { bench, close } = await openBench(ctx, format, options.tuning);
    const warm = performance.now();
    await bench.evaluate();
    const warmMs = performance.now() - warm;
    console.error(`warm-up ${warmMs.toFixed(0)} ms`);
    ctx.profiler.reset();
    ctx.pool.resetPeaks();
    const times: number[] = [];
    let output: Float32Array = new Float32Array();
    for (let i = 0; i < options.repeat; i++) {
      const start = performance.now();
      output = await bench.evaluate();
      times.push(performance.now() - start);
      console.error(`evaluation ${i + 1}: ${times.at(-1)!.toFixed(0)} ms`);
    }
    const dispatches = ctx.profiler.dispatches / options.repeat;
    const mem = ctx.memory();
    const err = errors(output, inputs.reference);
    console.log('| median (ms) | min (ms) | warm-up (ms) | dispatches / evaluation | peak intermediates | weights | max abs error | error / max ref |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    row = `| ${median(times).toFixed(1)} | ${Math.min(...times).toFixed(1)} | ${warmMs.toFixed(0)} | ${dispatches} | ${MiB(mem.peakInUseBytes)} | ${MiB(mem.weightBytes)} | ${err.maxAbs.toExponential(2)} | ${err.relative.toExponential(2)} |`;
    console.log(row);
    bench.destroy();
    await close();
  } finally {
    await ctx.destroy();
  }

  if (!timedCtx.profiler.timing) return;
  const { bench, close } = await openBench(timedCtx, format, options.tuning);
  await bench.evaluate();
  timedCtx.profiler.reset();
  await bench.evaluate();
  const report = await timedCtx.profiler.report();
  const total = report.reduce((s, r) => s + (r.gpuMs ?? 0), 0);
  console.log(`\nGPU time per op (one profiled evaluation, ${total.toFixed(1)} ms in all):\n`);
  console.log('| op | dispatches | GPU ms | share |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of report) console.log(`| ${r.op} | ${r.dispatches} | ${(r.gpuMs ?? 0).toFixed(2)} | ${(((r.gpuMs ?? 0) / total) * 100).toFixed(1)}% |`);
  bench.destroy();
  await close();
  timedCtx.pool.trim();
  timedCtx.tuning = undefined;
}
