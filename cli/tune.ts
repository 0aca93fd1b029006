/**
 * The auto-tuner on the command line: `npm run tune -- --model <diffusers folder> [--width W --height H]
 * [--budget-seconds S] [--out FILE]`, or `--ops-bench` for the shapes of `npm run bench -- ops`. It records the
 * model's op shapes without running it (engine/tune/record.ts), searches each op's configurations on this machine's
 * adapter within the budget (engine/tune/tuner.ts), prints the choices and merges them into the tuning cache file
 * that `npm run generate` and `npm run bench` read.
 */
import { parseArgs } from 'node:util';
import { GpuContext } from '../engine/gpu/context';
import { adapterName } from '../engine/gpu/device';
import { EngineError } from '../engine/gpu/errors';
import { nodeGpu } from '../engine/gpu/node-gpu';
import { STORAGE_FORMATS, type StorageFormat } from '../engine/gpu/tensor';
import { parseUNetConfig, parseVaeConfig } from '../engine/models/config';
import { recordModelShapes, type RecordedShape } from '../engine/tune/record';
import { describeShape } from '../engine/tune/shapes';
import { describeConfig, mergeTable, tableFor } from '../engine/tune/table';
import { tune } from '../engine/tune/tuner';
import { opsBenchShapes } from './bench-ops';
import { ModelFolder } from './model-folder';
import { defaultTuningPath, readTuningCache, writeTuningCache } from './tuning-file';

const USAGE = `Usage: npm run tune -- (--model <diffusers folder> | --ops-bench) [options]

  --width W --height H      image size whose shapes to tune (default: the model's native size)
  --weights FORMAT          ${STORAGE_FORMATS.join(' | ')}: weight format the model will run with (default f16)
  --no-guidance             shapes for guidance ≤ 1 (batch 1) instead of classifier-free guidance (batch 2)
  --budget-seconds S        stop searching after S seconds; untuned shapes keep their defaults (default 300)
  --repeat N                timed runs per configuration, median (default 3)
  --exhaustive              time every valid tile, not the short lists
  --filter TEXT             only the shapes whose description contains TEXT (e.g. "GEMM 4096×320×320")
  --out FILE                tuning cache to add to (default ${defaultTuningPath()})`;

class UsageError extends Error {}

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0)) throw new UsageError(`--${name} must be a positive number, not "${value}".`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      'ops-bench': { type: 'boolean' },
      width: { type: 'string' },
      height: { type: 'string' },
      weights: { type: 'string' },
      'no-guidance': { type: 'boolean' },
      'budget-seconds': { type: 'string' },
      repeat: { type: 'string' },
      exhaustive: { type: 'boolean' },
      filter: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.model === !values['ops-bench']) throw new UsageError('Give either --model <diffusers folder> or --ops-bench.');
  const format = (values.weights ?? 'f16') as StorageFormat;
  if (!STORAGE_FORMATS.includes(format)) throw new UsageError(`--weights must be one of ${STORAGE_FORMATS.join(', ')}.`);
  const budgetMs = positive(values['budget-seconds'], 'budget-seconds', 300) * 1000;
  const repeat = Math.round(positive(values.repeat, 'repeat', 3));
  const out = values.out ?? defaultTuningPath();
  const cache = await readTuningCache(out);

  let shapes: RecordedShape[];
  if (values.model) {
    const folder = new ModelFolder(values.model);
    try {
      const unet = parseUNetConfig((await folder.text('unet/config.json')) ?? '{}', 'unet/config.json');
      const vae = parseVaeConfig((await folder.text('vae/config.json')) ?? '{}', 'vae/config.json');
      const native = unet.sampleSize * 2 ** (vae.blockOutChannels.length - 1);
      const width = positive(values.width, 'width', native);
      const height = positive(values.height, 'height', native);
      shapes = await recordModelShapes(folder, { width, height, format, guidance: !values['no-guidance'] });
      console.log(`Model ${values.model} at ${width}×${height}, ${format} weights: ${shapes.filter((s) => s.shape.op !== 'conv-algorithm').length} op shapes.`);
    } finally {
      await folder.close();
    }
  } else shapes = opsBenchShapes();
  const filter = values.filter?.toLowerCase();
  if (filter) shapes = shapes.filter((s) => s.shape.op === 'conv-algorithm' || describeShape(s.shape).toLowerCase().includes(filter));

  const ctx = await GpuContext.create(await nodeGpu(), { timing: true });
  console.log(`GPU: ${adapterName(ctx.adapter)}${ctx.profiler.timing ? '' : ' (no timestamp queries: wall time)'}; budget ${budgetMs / 1000} s`);
  try {
    const result = await tune(ctx, shapes, {
      budgetMs,
      repeat,
      exhaustive: values.exhaustive ?? false,
      ...(tableFor(cache, ctx.adapter) ? { table: tableFor(cache, ctx.adapter)! } : {}),
      onProgress: (p) => {
        if (!p.description) return;
        const e = p.entry;
        const what = e ? `${e.defaultMs.toFixed(2)} → ${e.ms.toFixed(2)} ms (${describeConfig(e.chosen)}; ${e.tried} tried, ${e.rejected} rejected)` : 'left out (budget)';
        console.log(`[${p.done}/${p.total}, ${(p.elapsedMs / 1000).toFixed(0)} s] ${p.description}: ${what}`);
      },
    });
    await writeTuningCache(out, mergeTable(cache, result.table));
    const entries = Object.values(result.table.entries);
    const changed = entries.filter((e) => JSON.stringify(e.chosen) !== JSON.stringify(e.default));
    console.log(`\n| op shape | default | chosen | default ms | chosen ms |\n| --- | --- | --- | ---: | ---: |`);
    for (const e of entries) console.log(`| ${describeShape(e.shape)} | ${describeConfig(e.default)} | ${describeConfig(e.chosen)} | ${e.defaultMs.toFixed(2)} | ${e.ms.toFixed(2)} |`);
    console.log(
      `\n${entries.length} entries (${changed.length} differ from the default), ${result.skipped} shapes left out` +
        `${result.stopped === 'budget' ? ' by the budget' : ''}, in ${(result.elapsedMs / 1000).toFixed(0)} s. Wrote ${out}`,
    );
  } finally {
    await ctx.destroy();
  }
}

main().catch((error: unknown) => {
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  if (error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) console.error(`${(error as Error).message}\n\n${USAGE}`);
  else if (error instanceof EngineError || code === 'ENOENT' || code === 'EACCES') console.error(`Error: ${(error as Error).message}`);
  else console.error(error);
  process.exit(1);
});
