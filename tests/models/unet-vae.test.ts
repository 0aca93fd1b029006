import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { StableDiffusion } from '../../engine/pipeline';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';
import { cases, tensor, TINY_MODEL, toNchw, toNhwc } from './fixtures';

// One f32 UNet / VAE evaluation: ~40 layers deep, the reference's own fp32 noise is ~1e-6; 1e-4 of the output's
// max magnitude leaves room for our different summation orders (tiled GEMMs, Winograd, online softmax).
const TOL = 1e-4;

describe('UNet and VAE vs the reference', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());

  cases.unet.forEach((c, i) => {
    it(`UNet case ${i}: t=${c.timestep}, latents ${c.sample.shape.join('×')}`, async () => {
      const ctx = await gpuContext();
      const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
      const unet = await sd.unetStage();
      const [b, ch, h, w] = c.sample.shape as [number, number, number, number];
      const x = ctx.upload(toNhwc(tensor(c.sample), c.sample.shape), [b, h, w, ch], 'sample');
      const text = ctx.upload(tensor(c.encoder_hidden_states), c.encoder_hidden_states.shape, 'text');
      const kv = unet.crossKV(ctx, text);
      const out = unet.forward(ctx, x, c.timestep, kv);
      expectClose(toNchw(await ctx.read(out), c.out.shape), tensor(c.out), TOL, 'noise prediction');
      ctx.release(x, text, out);
      unet.releaseCrossKV(ctx, kv);
      sd.unload();
      expect(ctx.memory().inUseBytes).toBe(0);
    });
  });

  // No reference exists at odd sizes (no diffusers here): the ops' odd-size and upsample-to-odd tests check each
  // piece against the CPU reference; this checks the pieces fit together at every level.
  it('UNet at latents odd at every level: 9 × 11 → 5 × 6 → 3 × 3 → 2 × 2 and back', async () => {
    const ctx = await gpuContext();
    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
    const unet = await sd.unetStage();
    const c = cases.unet[0]!;
    const batch = c.encoder_hidden_states.shape[0]!;
    const shape = [batch, 9, 11, 4];
    const x = ctx.upload(randomArray(batch * 9 * 11 * 4, 7), shape, 'sample');
    const text = ctx.upload(tensor(c.encoder_hidden_states), c.encoder_hidden_states.shape, 'text');
    const kv = unet.crossKV(ctx, text);
    const out = unet.forward(ctx, x, c.timestep, kv);
    expect(out.shape).toEqual(shape);
    const y = await ctx.read(out);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(y.some((v) => v !== 0)).toBe(true);
    ctx.release(x, text, out);
    unet.releaseCrossKV(ctx, kv);
    sd.unload();
    expect(ctx.memory().inUseBytes).toBe(0);
    // Run alone it compiles every UNet pipeline first: 110 s on SwiftShader on a busy 2-core machine.
  }, 600_000);

  cases.vae_decode.forEach((c, i) => {
    it(`VAE decode case ${i}: latents ${c.latents.shape.join('×')}`, async () => {
      const ctx = await gpuContext();
      const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
      const decoder = await sd.decoderStage();
      const [b, ch, h, w] = c.latents.shape as [number, number, number, number];
      const z = ctx.upload(toNhwc(tensor(c.latents), c.latents.shape), [b, h, w, ch], 'z');
      const image = decoder.decode(ctx, z);
      expectClose(toNchw(await ctx.read(image), c.image.shape), tensor(c.image), TOL, 'image');
      ctx.release(z, image);
      sd.unload();
    });
  });

  cases.vae_encode.forEach((c, i) => {
    it(`VAE encode case ${i}: image ${c.image.shape.join('×')}`, async () => {
      const ctx = await gpuContext();
      const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
      const encoder = await sd.encoderStage();
      const [b, ch, h, w] = c.image.shape as [number, number, number, number];
      const x = ctx.upload(toNhwc(tensor(c.image), c.image.shape), [b, h, w, ch], 'image');
      const moments = toNchw(await ctx.read(encoder.encode(ctx, x)), [b, 8, h / 8, w / 8]);
      const half = moments.length / 2;
      expectClose(moments.subarray(0, half), tensor(c.mean), TOL, 'mean');
      expectClose(moments.subarray(half), tensor(c.logvar), TOL, 'logvar');
      sd.unload();
    });
  });
});
