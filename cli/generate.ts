/**
 * Command-line generator: `npm run generate -- --model <diffusers folder> --prompt "…" --out image.png [options]`.
 * Runs the engine in Node on Dawn's WebGPU (SwiftShader where there is no GPU). `--help` lists the options.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { GpuContext } from '../engine/gpu/context';
import { adapterName } from '../engine/gpu/device';
import { EngineError } from '../engine/gpu/errors';
import { nodeGpu } from '../engine/gpu/node-gpu';
import { STORAGE_FORMATS, type StorageFormat } from '../engine/gpu/tensor';
import { parseUNetConfig, parseVaeConfig } from '../engine/models/config';
import { StableDiffusion, type GenerateParams, type Stage } from '../engine/pipeline';
import { planGeneration } from '../engine/plan';
import { isSchedulerName, SCHEDULER_NAMES } from '../engine/schedulers';
import { decodeImagePng, encodeImagePng } from '../lib/png';
import { SAMPLER_LABELS } from '../lib/samplers';
import { ModelFolder } from './model-folder';
import { defaultTuningPath, tuningTableFor } from './tuning-file';

const USAGE = `Usage: npm run generate -- --model <diffusers folder> --prompt "…" --out <file.png> [options]

  --negative-prompt "…"     what the image should not show (used when guidance > 1)
  --no-emphasis             read brackets in the prompts as text; by default they weigh words as in A1111:
                            (word) ×1.1, [word] ÷1.1, (word:1.5) ×1.5, nesting multiplies, \\( \\) \\[ \\] for brackets
  --scheduler NAME          ${SCHEDULER_NAMES.join(' | ')} (default: the model folder's)
  --steps N                 denoising steps (default 20)
  --guidance G              classifier-free guidance scale; ≤ 1 turns it off (default 7.5)
  --width W --height H      image size in pixels (default: the model's native size)
  --seed S                  integer seed (default: random; printed)
  --init-latents FILE       raw little-endian float32 NCHW [1,4,H/8,W/8]: replaces the seeded noise
  --save-latents FILE       write the final latents (before the VAE) in that format
  --init-image PNG          img2img: start from this image (its size must be W × H)
  --strength S              img2img: how much to change the image, in (0, 1] (default 0.8)
  --mask PNG                inpainting (with --init-image, same size): white repaints, black keeps the starting
                            image's pixels exactly, grey blends
  --weights FORMAT          ${STORAGE_FORMATS.join(' | ')}: storage format of the layer weights (default f16)
  --tuning FILE|off         auto-tuner cache (npm run tune) to take op configurations from (default ${defaultTuningPath()})
  --plan                    generate nothing: report the GPU memory (memory 'fast' and 'low') and the dispatches
                            per UNet evaluation this model, size, guidance and format need, without GPU work`;

class UsageError extends Error {}

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, not "${value}".`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'negative-prompt': { type: 'string' },
      'no-emphasis': { type: 'boolean' },
      scheduler: { type: 'string' },
      steps: { type: 'string' },
      guidance: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      seed: { type: 'string' },
      'init-latents': { type: 'string' },
      'save-latents': { type: 'string' },
      'init-image': { type: 'string' },
      strength: { type: 'string' },
      mask: { type: 'string' },
      weights: { type: 'string' },
      tuning: { type: 'string' },
      out: { type: 'string' },
      plan: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.model) throw new UsageError('--model is required: a diffusers pipeline folder.');
  if (values.plan) {
    await printPlan(values.model, values);
    return;
  }
  if (values.prompt === undefined) throw new UsageError('--prompt is required.');
  if (!values.out) throw new UsageError('--out is required: the PNG file to write.');
  const format = (values.weights ?? 'f16') as StorageFormat;
  if (!STORAGE_FORMATS.includes(format)) throw new UsageError(`--weights must be one of ${STORAGE_FORMATS.join(', ')}.`);
  if (values.scheduler !== undefined && !isSchedulerName(values.scheduler)) throw new UsageError(`--scheduler must be one of ${SCHEDULER_NAMES.join(', ')}.`);
  if (values.strength !== undefined && !values['init-image']) throw new UsageError('--strength needs --init-image.');
  if (values.mask !== undefined && !values['init-image']) throw new UsageError('--mask needs --init-image: the image whose white-masked part is repainted.');

  const folder = new ModelFolder(values.model);
  const gpu = await nodeGpu();
  const ctx = await GpuContext.create(gpu);
  console.log(`GPU: ${adapterName(ctx.adapter)}`);
  try {
    const { table, path } = await tuningTableFor(values.tuning, ctx.adapter);
    if (table) console.log(`Tuning: ${Object.keys(table.entries).length} op configurations from ${path}`);
    const sd = await StableDiffusion.open(ctx, folder, { format, ...(table ? { tuning: table } : {}) });
    const nativeSize = sd.configs.unet.sampleSize * sd.vaeFactor;
    const seed = number(values.seed, 'seed') ?? Math.floor(Math.random() * 2 ** 32);
    const params: GenerateParams = {
      prompt: values.prompt,
      ...(values['negative-prompt'] !== undefined ? { negativePrompt: values['negative-prompt'] } : {}),
      ...(values.scheduler !== undefined && isSchedulerName(values.scheduler) ? { scheduler: values.scheduler } : {}),
      steps: number(values.steps, 'steps') ?? 20,
      guidance: number(values.guidance, 'guidance') ?? 7.5,
      width: number(values.width, 'width') ?? nativeSize,
      height: number(values.height, 'height') ?? nativeSize,
      seed,
      emphasis: !values['no-emphasis'],
    };
    if (values['init-latents']) params.initLatents = await readFloats(values['init-latents']);
    if (values['init-image']) {
      const png = decodeImagePng(await readFile(values['init-image']));
      if (values.width === undefined && values.height === undefined) {
        params.width = png.width;
        params.height = png.height;
      }
      if (png.width !== params.width || png.height !== params.height) {
        throw new UsageError(`--init-image is ${png.width}×${png.height}; it must match --width × --height (${params.width}×${params.height}).`);
      }
      params.initImage = png.rgb;
      params.strength = number(values.strength, 'strength') ?? 0.8;
      if (values.mask) params.mask = await readMask(values.mask, params.width, params.height);
    }
    const started = performance.now();
    let lastStage: Stage | undefined;
    const result = await sd.generate(params, {
      onProgress: (p) => {
        if (p.stage === 'denoise') process.stdout.write(`\rdenoise: step ${p.step}/${p.steps}`);
        else if (p.step === 0 && p.stage !== lastStage) process.stdout.write(`${lastStage === 'denoise' ? '\n' : ''}${p.stage}…\n`);
        lastStage = p.stage;
      },
    });
    if (result.truncated.prompt) console.warn(`Warning: the prompt was ${result.truncated.prompt} tokens over the 77-token limit; this was not read: "${result.cutText.prompt}"`);
    if (result.truncated.negativePrompt) console.warn(`Warning: the negative prompt was cut by ${result.truncated.negativePrompt} tokens; this was not read: "${result.cutText.negativePrompt}"`);
    if (values['save-latents']) await writeFile(values['save-latents'], new Uint8Array(result.latents.buffer, result.latents.byteOffset, result.latents.byteLength));
    await writeFile(
      values.out,
      encodeImagePng(result.image, result.width, result.height, {
        prompt: params.prompt,
        ...(params.negativePrompt ? { negativePrompt: params.negativePrompt } : {}),
        steps: params.steps,
        sampler: SAMPLER_LABELS[result.scheduler],
        guidance: params.guidance,
        seed,
        width: result.width,
        height: result.height,
        model: basename(values.model),
        ...(params.initImage ? { strength: params.strength! } : {}),
        ...(params.mask ? { mask: true } : {}),
      }),
    );
    const stages = Object.entries(result.timings).map(([stage, ms]) => `${stage} ${(ms / 1000).toFixed(2)} s`);
    console.log(`Seed ${seed}, ${result.scheduler}, ${result.timesteps.length} UNet evaluations. Times: ${stages.join(', ')}; total ${((performance.now() - started) / 1000).toFixed(2)} s`);
    console.log(`Wrote ${values.out}`);
    sd.unload();
  } finally {
    await folder.close();
    await ctx.destroy();
  }
}

/** `--plan`: plan mode (engine/plan.ts) for the folder's model; reads configs and checkpoint headers only. */
async function printPlan(model: string, values: { width?: string; height?: string; guidance?: string; weights?: string }): Promise<void> {
  const format = (values.weights ?? 'f16') as StorageFormat;
  if (!STORAGE_FORMATS.includes(format)) throw new UsageError(`--weights must be one of ${STORAGE_FORMATS.join(', ')}.`);
  const folder = new ModelFolder(model);
  try {
    const config = async (path: string) => JSON.parse((await folder.text(path)) ?? '{}') as unknown;
    const unet = parseUNetConfig(await config('unet/config.json'));
    const native = unet.sampleSize * 2 ** (parseVaeConfig(await config('vae/config.json')).blockOutChannels.length - 1);
    const width = number(values.width, 'width') ?? native;
    const height = number(values.height, 'height') ?? native;
    const guidance = (number(values.guidance, 'guidance') ?? 7.5) > 1;
    const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
    console.log(`Plan for ${basename(model)}: ${width}×${height}, ${guidance ? 'with' : 'without'} guidance, ${format} weights (no GPU work)`);
    for (const memory of ['fast', 'low'] as const) {
      const plan = await planGeneration(folder, { width, height, guidance, format, memory });
      const stages = plan.stages.map((s) => `${s.stage} ${mb(s.peakBytes)}`).join(', ');
      const largest = plan.stages.reduce((a, s) => (s.largestBuffer > a.largestBuffer ? s : a));
      console.log(
        `memory '${memory}': peak ${mb(plan.peakBytes)} (${stages}); largest buffer ${mb(largest.largestBuffer)} (${largest.stage}); ` +
          `${plan.unetDispatches} dispatches per UNet evaluation`,
      );
    }
  } finally {
    await folder.close();
  }
}

/** A mask PNG → one value per pixel in [0, 1]: the mean of its RGB (white 1 = repaint, black 0 = keep). */
async function readMask(path: string, width: number, height: number): Promise<Float32Array> {
  const png = decodeImagePng(await readFile(path));
  if (png.width !== width || png.height !== height) throw new UsageError(`--mask is ${png.width}×${png.height}; it must match the starting image (${width}×${height}).`);
  const mask = new Float32Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = (png.rgb[i * 3]! + png.rgb[i * 3 + 1]! + png.rgb[i * 3 + 2]!) / 3;
  return mask;
}

async function readFloats(path: string): Promise<Float32Array> {
  const bytes = await readFile(path);
  if (bytes.byteLength % 4) throw new UsageError(`${path} is not raw float32 data (${bytes.byteLength} bytes).`);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

main().catch((error: unknown) => {
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  if (error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) console.error(`${(error as Error).message}\n\n${USAGE}`);
  else if (error instanceof EngineError || code === 'ENOENT' || code === 'EACCES') console.error(`Error: ${(error as Error).message}`);
  else console.error(error);
  process.exit(1);
});
