import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { StableDiffusion } from '../../engine/pipeline';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';
import { TINY_MODEL } from './fixtures';

// Banded and whole decodes do the same arithmetic; they differ only where Winograd's 2×2 tiles and GroupNorm's
// statistics chunks fall, a few f32 ulps of each layer's values.
const TOL = 1e-5;
const KIB = 1024;

describe('VAE decode and encode on row bands (engine/models/bands.ts)', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());

  it('decodes as the whole image does with no buffer over a forced 160 KiB limit (int8 weights, 2 images of 80×64, uneven bands)', async () => {
    const ctx = await gpuContext();
    const sd = await StableDiffusion.open(ctx, folder, { format: 'int8' });
    const decoder = await sd.decoderStage();
    // 10×8 latents: the 40 rows where banding starts (up block 2: its upsampled 80·64·32 floats are 640 KiB) split
    // into 7 bands of 6 and 4 rows; bands meet the image's top and bottom and each other, up block 3 changes channels.
    // int8 weights: their Winograd kernels are not shift-invariant, so this also checks bands keep the tile grid.
    const z = ctx.upload(randomArray(2 * 10 * 8 * 4, 71, 3), [2, 10, 8, 4], 'z');
    const run = async (maxBufferBytes?: number) => {
      ctx.pool.trim();
      ctx.resetPeaks();
      const image = decoder.decode(ctx, z, maxBufferBytes ? { maxBufferBytes } : {});
      const pixels = await ctx.read(image);
      ctx.release(image);
      return { pixels, largest: ctx.memory().largestBytes };
    };
    const whole = await run();
    const banded = await run(160 * KIB);
    expect(whole.largest).toBeGreaterThan(160 * KIB);
    expect(banded.largest).toBeLessThanOrEqual(160 * KIB);
    expectClose(banded.pixels, whole.pixels, TOL, 'banded image');
    ctx.release(z);
    sd.unload();
    expect(ctx.memory().inUseBytes).toBe(0);
  });

  it('encodes as the whole image does with no buffer over a forced 140 KiB limit (int8 weights, 2 images of 80×64)', async () => {
    const ctx = await gpuContext();
    const sd = await StableDiffusion.open(ctx, folder, { format: 'int8' });
    const encoder = await sd.encoderStage();
    // Down blocks 0 and 1 (80×64×16 and 40×32×32 floats: 320 and 160 KiB) run on bands of 28, 28 and 24 rows, a
    // multiple of 4 so both downsamplings halve every band and each band starts at an even row; the rest runs whole.
    const image = ctx.upload(randomArray(2 * 80 * 64 * 3, 72), [2, 80, 64, 3], 'image');
    const run = async (maxBufferBytes?: number) => {
      ctx.pool.trim();
      ctx.resetPeaks();
      const moments = encoder.encode(ctx, image, maxBufferBytes ? { maxBufferBytes } : {});
      const values = await ctx.read(moments);
      ctx.release(moments);
      return { values, largest: ctx.memory().largestBytes };
    };
    const whole = await run();
    const banded = await run(140 * KIB);
    expect(whole.largest).toBeGreaterThan(140 * KIB);
    expect(banded.largest).toBeLessThanOrEqual(140 * KIB);
    expectClose(banded.values, whole.values, TOL, 'banded moments');
    ctx.release(image);
    sd.unload();
    expect(ctx.memory().inUseBytes).toBe(0);
  });
});
