/**
 * Benchmarks: `npm run bench -- <suite> [--repeat N] [--filter TEXT] [--tuning PATH|off]`. Suites: `ops` (kernels at Stable Diffusion
 * 1.5 shapes), `quality` (image PSNR of each weight format against the reference pipeline; `--filter f16` runs one
 * format). Every figure is printed with the adapter it ran on; nothing here asserts speed.
 */
import { parseArgs } from 'node:util';
import { GpuContext } from '../engine/gpu/context';
import { adapterName } from '../engine/gpu/device';
import { nodeGpu } from '../engine/gpu/node-gpu';
import { runOpsBench } from './bench-ops';
import { runQualityBench } from './bench-quality';
import { tuningTableFor } from './tuning-file';
import type { TuningTable } from '../engine/tune/table';

const SUITES: Record<string, (ctx: GpuContext, options: { repeat: number; filter?: string; tuning?: TuningTable }) => Promise<void>> = {
  ops: runOpsBench,
  quality: runQualityBench,
};

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { repeat: { type: 'string' }, filter: { type: 'string' }, tuning: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const names = positionals.length ? positionals : Object.keys(SUITES);
  const unknown = names.filter((n) => !SUITES[n]);
  if (unknown.length) throw new Error(`Unknown suite ${unknown.join(', ')}; suites: ${Object.keys(SUITES).join(', ')}.`);
  const repeat = Number(values.repeat ?? 5);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer.');
  const ctx = await GpuContext.create(await nodeGpu(), { timing: true });
  console.log(`Adapter: ${adapterName(ctx.adapter)}  ·  ${new Date().toISOString().slice(0, 10)}  ·  repeat ${repeat} (median)`);
  try {
    // The auto-tuner's table for this adapter (`--tuning PATH`, default cache file; `--tuning off`: none).
    const { table } = await tuningTableFor(values.tuning, ctx.adapter);
    for (const name of names) await SUITES[name]!(ctx, { repeat, ...(values.filter ? { filter: values.filter } : {}), ...(table ? { tuning: table } : {}) });
  } finally {
    await ctx.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
