/**
 * Benchmarks: `npm run bench -- [suite …] [--repeat N] [--filter TEXT] [--weights FORMAT] [--tuning PATH|off] [--no-write]`; no suite
 * names runs them all. Suites: `ops` (kernels at Stable Diffusion 1.5 shapes), `quality` (image PSNR of each weight
 * format against the reference pipeline; `--filter f16` runs one format), `unet` (one bench-unet evaluation on our
 * engine in Node), `ort` (bench-unet side by side with onnxruntime-web in headless Chromium), `plan` (real SD 1.5 / 2.1
 * models planned without GPU work: dispatches, peak memory, largest buffer), `store` (download, store and load
 * throughput of the model store in the built extension in Chromium; `--weights` picks the stored format); on demand
 * only, `sd15` (one real-size SD 1.5 UNet evaluation: many minutes on a CPU adapter) and `vae` (the real-size VAE
 * decoding and encoding on row bands under 128 MiB bindings and whole, side by side). `--tuning`: the
 * auto-tuner's table for this adapter (default: the cache file of `npm run tune`; `off`: default configurations).
 *
 * Every figure is printed with the adapter it ran on; nothing here asserts speed. Each suite's output also replaces
 * its own section of BENCHMARKS.md (with the adapter, date and the command that produced it), so running one suite
 * leaves the other sections as they were.
 */
import { parseArgs } from 'node:util';
import { GpuContext } from '../engine/gpu/context';
import { adapterName } from '../engine/gpu/device';
import { nodeGpu } from '../engine/gpu/node-gpu';
import { STORAGE_FORMATS, type StorageFormat } from '../engine/gpu/tensor';
import type { TuningTable } from '../engine/tune/table';
import { runOpsBench } from './bench-ops';
import { runOrtBench } from './bench-ort';
import { runPlanBench } from './bench-plan';
import { runQualityBench } from './bench-quality';
import { runSd15Bench } from './bench-sd15';
import { runStoreBench } from './bench-store';
import { runUNetBench } from './bench-unet';
import { runVaeBench } from './bench-vae';
import { BENCHMARKS_FILE, updateSection } from './benchmarks-md';
import { tuningTableFor } from './tuning-file';

export interface SuiteOptions {
  repeat: number;
  filter?: string;
  /** Weight storage format, for suites that load a model (default f32). */
  weights?: StorageFormat;
  /** The auto-tuner's table for this adapter, when there is one. */
  tuning?: TuningTable;
}

/**
 * A suite prints Markdown (a heading, tables, notes) with console.log. When its figures come from another adapter
 * than the Node context's (the browser in `ort`), it returns that adapter's name for the section header.
 */
type Suite = (ctx: GpuContext, options: SuiteOptions) => Promise<void | { adapter: string }>;

const SUITES: Record<string, Suite> = {
  ops: runOpsBench,
  quality: runQualityBench,
  unet: runUNetBench,
  ort: runOrtBench,
  plan: runPlanBench,
  store: runStoreBench,
};

/** Suites that run only when named: they take many minutes on a CPU adapter. */
const ON_DEMAND: Record<string, Suite> = {
  sd15: runSd15Bench,
  vae: runVaeBench,
};

/** Runs `fn`, passing what it prints through to the terminal and returning it too. */
async function capture<T>(fn: () => Promise<T>): Promise<{ result: T; text: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
    log(...args);
  };
  try {
    return { result: await fn(), text: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

async function main(): Promise<void> {
  // npm passes everything after its own `--`; vite-node may leave that separator in argv.
  const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--'));
  const { values, positionals } = parseArgs({
    args,
    options: { repeat: { type: 'string' }, filter: { type: 'string' }, weights: { type: 'string' }, tuning: { type: 'string' }, 'no-write': { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const names = positionals.length ? positionals : Object.keys(SUITES);
  const suite = (name: string) => SUITES[name] ?? ON_DEMAND[name];
  const unknown = names.filter((n) => !suite(n));
  if (unknown.length) throw new Error(`Unknown suite ${unknown.join(', ')}; suites: ${[...Object.keys(SUITES), ...Object.keys(ON_DEMAND)].join(', ')}.`);
  const repeat = Number(values.repeat ?? 5);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer.');
  const weights = values.weights as StorageFormat | undefined;
  if (weights && !STORAGE_FORMATS.includes(weights)) throw new Error(`--weights must be one of ${STORAGE_FORMATS.join(', ')}.`);
  const ctx = await GpuContext.create(await nodeGpu(), { timing: true });
  const { table } = await tuningTableFor(values.tuning, ctx.adapter);
  const options: SuiteOptions = { repeat, ...(values.filter ? { filter: values.filter } : {}), ...(weights ? { weights } : {}), ...(table ? { tuning: table } : {}) };
  const date = new Date().toISOString().slice(0, 10);
  console.log(`Adapter: ${adapterName(ctx.adapter)}  ·  ${date}  ·  repeat ${repeat} (median)`);
  try {
    for (const name of names) {
      const { result, text } = await capture(() => suite(name)!(ctx, options));
      if (values['no-write']) continue;
      const flags = args.filter((a) => !positionals.includes(a) && a !== '--no-write');
      const command = `npm run bench -- ${[name, ...flags].join(' ')}`;
      const adapter = result?.adapter ?? adapterName(ctx.adapter);
      await updateSection(name, text, `Adapter: ${adapter}  ·  ${date}  ·  \`${command}\``);
    }
    if (!values['no-write']) console.log(`\nUpdated ${BENCHMARKS_FILE}.`);
  } finally {
    await ctx.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
