/**
 * The auto-tuner on the command line: `npm run tune -- --model <diffusers folder> [--width W --height H]
 * [--budget-seconds S] [--out FILE]`, or `--ops-bench` for the shapes of `npm run bench -- ops`. A folder with only
 * a UNet (no model_index.json or vae/, such as ../shared/bench/bench-unet) is recorded as one UNet evaluation at the
 * size of its case.json, f32 weights by default, as `npm run bench -- unet` and `ort` run it. It records the
 * model's op shapes without running it (engine/tune/record.ts), searches each op's configurations on this machine's
 * adapter within the budget (engine/tune/tuner.ts), prints the choices and merges them into the tuning cache file
 * that `npm run generate` and `npm run bench` read.
 */
import { parseArgs } from 'node:util';
import { GpuContext } from '../engine/gpu/context';
import { adapterName } from '../engine/gpu/device';
import { EngineError } from '../engine/gpu/errors';
import { nodeGpu } from '../engine/gpu/node-gpu';
import type { PlanLimits } from '../engine/gpu/plan-device';
import { STORAGE_FORMATS, type StorageFormat } from '../engine/gpu/tensor';
import { parseUNetConfig, parseVaeConfig } from '../engine/models/config';
import { recordModelShapes, recordUNetShapes, type RecordedShape } from '../engine/tune/record';
import { describeShape } from '../engine/tune/shapes';
import { describeConfig, mergeTable, tableFor } from '../engine/tune/table';
import { tune } from '../engine/tune/tuner';
import { opsBenchShapes } from './bench-ops';
import { ModelFolder } from './model-folder';
import { defaultTuningPath, readTuningCache, writeTuningCache } from './tuning-file';

const USAGE = `Usage: npm run tune -- (--model <diffusers folder> | --ops-bench) [options]

  --width W --height H      image size whose shapes to tune (default: the model's native size)
  --weights FORMAT          ${STORAGE_FORMATS.join(' | ')}: weight format the model will run with (default f16;
                            f32 for a UNet-only folder, as the bench runs it)
  --no-guidance             shapes for guidance ≤ 1 (batch 1) instead of classifier-free guidance (batch 2)

A UNet-only folder (unet/ without model_index.json or vae/, e.g. ../shared/bench/bench-unet) is tuned for one UNet
evaluation with the batch, latent size and text length of its case.json (without one: batch 2, or 1 with
--no-guidance, the config's sample size and 77 tokens).
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

interface ShapeOptions {
  width?: string;
  height?: string;
  weights?: string;
  'no-guidance'?: boolean;
}

/** The batch, latent size and text length of a UNet-only folder's case.json (the bench's), or the config's defaults. */
async function unetCaseSize(folder: ModelFolder, guidance: boolean): Promise<{ batch: number; height: number; width: number; textTokens: number }> {
  const caseJson = await folder.text('case.json');
  if (caseJson !== undefined) {
    const c = JSON.parse(caseJson) as { sample?: { shape?: number[] }; encoder_hidden_states?: { shape?: number[] } };
    const [batch, , height, width] = c.sample?.shape ?? [];
    const tokens = c.encoder_hidden_states?.shape?.[1];
    if (batch && height && width && tokens) return { batch, height, width, textTokens: tokens };
    throw new UsageError(`${folder.path}/case.json has no sample.shape [B, C, H, W] and encoder_hidden_states.shape [B, T, D].`);
  }
  const unet = parseUNetConfig((await folder.text('unet/config.json')) ?? '{}', 'unet/config.json');
  return { batch: guidance ? 2 : 1, height: unet.sampleSize, width: unet.sampleSize, textTokens: 77 };
}

/**
 * The op shapes of the model in `path`: a whole pipeline's generation, or one evaluation of a UNet-only folder, as
 * they run under the buffer limits of the device being tuned.
 */
async function modelShapes(path: string, values: ShapeOptions, limits: PlanLimits): Promise<RecordedShape[]> {
  const folder = new ModelFolder(path);
  try {
    const count = (shapes: RecordedShape[]) => shapes.filter((s) => s.shape.op !== 'conv-algorithm').length;
    if ((await folder.text('model_index.json')) === undefined && (await folder.text('vae/config.json')) === undefined) {
      if (values.width !== undefined || values.height !== undefined) {
        throw new UsageError('--width and --height are image sizes of a pipeline folder; a UNet-only folder is tuned at the size of its case.json.');
      }
      const format = (values.weights ?? 'f32') as StorageFormat;
      const size = await unetCaseSize(folder, !values['no-guidance']);
      const shapes = await recordUNetShapes(folder, { ...size, format, limits });
      console.log(`UNet ${path}: batch ${size.batch}, ${size.height}×${size.width} latents, ${size.textTokens} text tokens, ${format} weights: ${count(shapes)} op shapes.`);
      return shapes;
    }
    const format = (values.weights ?? 'f16') as StorageFormat;
    const unet = parseUNetConfig((await folder.text('unet/config.json')) ?? '{}', 'unet/config.json');
    const vae = parseVaeConfig((await folder.text('vae/config.json')) ?? '{}', 'vae/config.json');
    const native = unet.sampleSize * 2 ** (vae.blockOutChannels.length - 1);
    const width = positive(values.width, 'width', native);
    const height = positive(values.height, 'height', native);
    const shapes = await recordModelShapes(folder, { width, height, format, guidance: !values['no-guidance'], limits });
    console.log(`Model ${path} at ${width}×${height}, ${format} weights: ${count(shapes)} op shapes.`);
    return shapes;
  } finally {
    await folder.close();
  }
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
  if (values.weights !== undefined && !STORAGE_FORMATS.includes(values.weights as StorageFormat)) {
    throw new UsageError(`--weights must be one of ${STORAGE_FORMATS.join(', ')}.`);
  }
  const budgetMs = positive(values['budget-seconds'], 'budget-seconds', 300) * 1000;
  const repeat = Math.round(positive(values.repeat, 'repeat', 3));
  const out = values.out ?? defaultTuningPath();
  const cache = await readTuningCache(out);

  const ctx = await GpuContext.create(await nodeGpu(), { timing: true });
  console.log(`GPU: ${adapterName(ctx.adapter)}${ctx.profiler.timing ? '' : ' (no timestamp queries: wall time)'}; budget ${budgetMs / 1000} s`);
  try {
    const { maxStorageBufferBindingSize, maxBufferSize } = ctx.device.limits;
    let shapes = values.model ? await modelShapes(values.model, values, { maxStorageBufferBindingSize, maxBufferSize }) : opsBenchShapes();
    const filter = values.filter?.toLowerCase();
    if (filter) shapes = shapes.filter((s) => s.shape.op === 'conv-algorithm' || describeShape(s.shape).toLowerCase().includes(filter));
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
