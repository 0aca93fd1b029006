import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { GenerationCancelledError, InvalidParameterError } from '../../engine/gpu/errors';
import { StableDiffusion, type GenerateParams, type Progress } from '../../engine/pipeline';
import { planGeneration } from '../../engine/plan';
import { gpuContext } from '../helpers/gpu';
import { cases, tensor, TINY_MODEL } from './fixtures';

const TIMEOUT = 900_000;
// One UNet evaluation without guidance (the SD-Turbo setting): the cheapest full generation.
const base: GenerateParams = { prompt: 'a lighthouse at dusk', scheduler: 'euler', steps: 1, guidance: 0, width: 128, height: 128, seed: 42 };

describe('pipeline features', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());

  it('gives the same image for the same seed, reports progress with latent previews, holds the planned memory', async () => {
    const ctx = await gpuContext();
    const plan = await planGeneration(folder, { width: base.width, height: base.height, guidance: false, format: 'f32', memory: 'fast', steps: base.steps });
    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
    const events: Progress[] = [];
    ctx.resetPeaks();
    const first = await sd.generate(base, { onProgress: (p) => events.push(p) });
    // Plan mode's prediction for a first generation on a fresh pool (engine/plan.ts).
    expect(ctx.memory().peakBytes).toBe(plan.peakBytes);
    const second = await sd.generate(base);
    const other = await sd.generate({ ...base, seed: 43 });
    expect(second.image).toEqual(first.image);
    expect(other.image).not.toEqual(first.image);
    expect(events.map((e) => `${e.stage} ${e.step}/${e.steps}`)).toEqual(['text 0/1', 'text 1/1', 'denoise 1/1', 'decode 0/1', 'decode 1/1']);
    const preview = events.find((e) => e.preview)!.preview!;
    expect([preview.width, preview.height, preview.rgba.length]).toEqual([16, 16, 16 * 16 * 4]);
    expect(first.timings.denoise).toBeGreaterThan(0);
    sd.unload();
  }, TIMEOUT);

  it('cancels between steps and gives its GPU memory back', async () => {
    const ctx = await gpuContext();
    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32', memory: 'low' });
    const before = ctx.memory().inUseBytes;
    const controller = new AbortController();
    const run = sd.generate({ ...base, steps: 3, guidance: 3 }, { signal: controller.signal, onProgress: (p) => p.stage === 'denoise' && controller.abort() });
    await expect(run).rejects.toBeInstanceOf(GenerationCancelledError);
    expect(ctx.memory().inUseBytes).toBe(before);
    sd.unload();
  }, TIMEOUT);

  it('runs img2img from an image with a strength', async () => {
    const ctx = await gpuContext();
    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32', memory: 'low' });
    const init = tensor(cases.pipeline[0]!.image);
    const result = await sd.generate({ ...base, steps: 4, strength: 0.5, initImage: init });
    // diffusers' get_timesteps: the last floor(4 · 0.5) = 2 of the 4 timesteps.
    expect(result.timesteps).toHaveLength(2);
    expect(result.image).toHaveLength(init.length);
    expect(result.image.every((v) => v >= 0 && v <= 1)).toBe(true);
    const again = await sd.generate({ ...base, steps: 4, strength: 0.5, initImage: init });
    expect(again.image).toEqual(result.image);
    sd.unload();
  }, TIMEOUT);

  it('makes an image whose latents are odd at every UNet level (72 × 88: 9 × 11, 5 × 6, 3 × 3, 2 × 2), in the planned memory', async () => {
    const ctx = await gpuContext();
    const params = { ...base, width: 72, height: 88 };
    const plan = await planGeneration(folder, { width: params.width, height: params.height, guidance: false, format: 'f32', memory: 'fast', steps: params.steps });
    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
    ctx.resetPeaks();
    const result = await sd.generate(params);
    expect(ctx.memory().peakBytes).toBe(plan.peakBytes);
    expect([result.width, result.height, result.image.length, result.latents.length]).toEqual([72, 88, 72 * 88 * 3, 4 * 9 * 11]);
    expect(result.image.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(result.latents.every(Number.isFinite)).toBe(true);
    sd.unload();
  }, TIMEOUT);

  it('rejects impossible parameters before any GPU work', async () => {
    const ctx = await gpuContext();
    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
    const bad: Partial<GenerateParams>[] = [
      { width: 100 },
      { height: 0 },
      { steps: 0 },
      { steps: 2.5 },
      { guidance: Number.NaN },
      { seed: -1 },
      { initLatents: new Float32Array(10) },
      { initImage: new Float32Array(5), strength: 0.5 },
      { initImage: new Float32Array(128 * 128 * 3), strength: 1.5 },
    ];
    for (const b of bad) await expect(sd.generate({ ...base, ...b }), JSON.stringify(b)).rejects.toBeInstanceOf(InvalidParameterError);
    expect(ctx.memory().inUseBytes).toBe(0);
  });
});
