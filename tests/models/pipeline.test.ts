import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { StableDiffusion } from '../../engine/pipeline';
import { planGeneration } from '../../engine/plan';
import { psnr } from '../../cli/bench-quality';
import { expectClose, gpuContext, relativeError } from '../helpers/gpu';
import { caseParams, cases, tensor, TINY_MODEL } from './fixtures';

// Latents: each step feeds the next, so UNet-level differences (~1e-5) compound over the steps and through
// guidance 7.5 (which amplifies the cond − uncond difference); 1e-3 of the max magnitude, as the issue asks.
const LATENT_TOL = 1e-3;
// The image goes through the VAE from latents already within LATENT_TOL.
const IMAGE_TOL = 2e-3;
// SwiftShader runs the tiny model's UNet in seconds per evaluation on a 2-core machine; a 6-step guided case with
// its VAE decode takes minutes.
const PIPELINE_TIMEOUT = 900_000;

describe('txt2img pipeline vs the reference', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());

  cases.pipeline.forEach((c, i) => {
    it(`case ${i}: ${c.scheduler}, ${c.steps.length} steps, guidance ${c.guidance}`, async () => {
      const ctx = await gpuContext();
      const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
      const stepErrors: number[] = [];
      const result = await sd.generate(
        caseParams(c),
        {
          onStep: (index, t, latents) => {
            expect(t).toBe(c.steps[index]!.t);
            stepErrors.push(relativeError(latents, tensor(c.steps[index]!.latents)));
          },
        },
      );
      expect(result.timesteps).toEqual(c.timesteps);
      expect(stepErrors.length).toBe(c.steps.length);
      for (const [k, e] of stepErrors.entries()) expect(e, `step ${k} latents: ${e.toExponential(2)}`).toBeLessThanOrEqual(LATENT_TOL);
      expectClose(result.image, tensor(c.image), IMAGE_TOL, 'image');
      sd.unload();
    }, PIPELINE_TIMEOUT);
  });
});

// Quantised weights change the image; these floors are the (f16 ≥ 35 dB, int8 ≥ 25 dB). The 1-step case keeps
// the test short; `npm run bench -- quality` measures every case and format. Each generation also holds exactly the
// GPU memory that plan mode (engine/plan.ts) predicts for it without a GPU.
describe('quantised weights keep the image close to the reference', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());
  const c = cases.pipeline[3]!;

  for (const [format, floor] of [['f16', 35], ['int8', 25]] as const) {
    it(`${format}: PSNR ≥ ${floor} dB on case 3`, async () => {
      const ctx = await gpuContext();
      const plan = await planGeneration(folder, { width: c.width, height: c.height, guidance: c.guidance > 1, format, memory: 'low', steps: c.steps.length });
      const sd = await StableDiffusion.open(ctx, folder, { format, memory: 'low' });
      ctx.resetPeaks();
      const result = await sd.generate(caseParams(c));
      expect(ctx.memory().peakBytes).toBe(plan.peakBytes);
      sd.unload();
      expect(psnr(result.image, tensor(c.image))).toBeGreaterThanOrEqual(floor);
    }, PIPELINE_TIMEOUT);
  }
});
