/**
 * Recording a UNet-only folder (the bench model ../shared/bench/bench-unet): the shapes of one UNet evaluation at
 * the bench's batch, latent size and text length, in the weight format asked for; recording a pipeline under the
 * buffer limits of the adapter being tuned. Runs on a plan device: no GPU work, no weights read.
 */
import { describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { recordModelShapes, recordUNetShapes } from '../../engine/tune/record';
import type { TunableShape } from '../../engine/tune/shapes';

describe('recordUNetShapes', () => {
  it('records one bench-unet evaluation: batch 2, 32×32 latents, 77 text tokens, f32 weights', async () => {
    const folder = new ModelFolder('../shared/bench/bench-unet');
    try {
      const shapes = (await recordUNetShapes(folder, { batch: 2, height: 32, width: 32, textTokens: 77, format: 'f32' })).map((r) => r.shape);
      const convs = shapes.filter((s) => s.op === 'conv');
      const attention = shapes.filter((s) => s.op === 'attention');
      const gemms = shapes.filter((s) => s.op === 'gemm');
      // conv_in: 4 latent channels to the first block's 32, on the full latent.
      expect(convs).toContainEqual(expect.objectContaining({ batch: 2, h: 32, w: 32, cin: 4, cout: 32, format: 'f32' }));
      expect(convs.every((s) => s.batch === 2 && s.format === 'f32')).toBe(true);
      expect(attention.some((s) => s.tk === 77 && s.batch === 2)).toBe(true);
      expect(attention.some((s) => s.tq === 32 * 32 && s.tk === 32 * 32)).toBe(true);
      expect(gemms.every((s) => s.b === 'f32' || s.b === 'kn')).toBe(true);
      expect(shapes.some((s) => s.op === 'conv-algorithm')).toBe(true);
    } finally {
      await folder.close();
    }
  });
});

describe('recordModelShapes', () => {
  it("records the VAE decoder's convolutions as they run under the tuned adapter's buffer limits: whole, or on row bands", async () => {
    const folder = new ModelFolder('../shared/fixtures/tiny-sd1/model');
    try {
      const fullSize = (s: TunableShape) => s.op === 'conv' && s.h === 256 && s.w === 256;
      const banded = (s: TunableShape) => s.op === 'conv' && s.w === 256 && s.h < 256;
      const desktop = (await recordModelShapes(folder, { width: 256, height: 256, format: 'f32' })).map((r) => r.shape);
      expect(desktop.some(fullSize)).toBe(true);
      expect(desktop.some(banded)).toBe(false);
      // The decoder's last blocks (16 channels at 256 × 256: 4 MiB) pass a 2 MiB binding limit.
      const small = (await recordModelShapes(folder, { width: 256, height: 256, format: 'f32', limits: { maxStorageBufferBindingSize: 2 ** 21, maxBufferSize: 2 ** 22 } })).map((r) => r.shape);
      expect(small.some(fullSize)).toBe(false);
      expect(small.some(banded)).toBe(true);
    } finally {
      await folder.close();
    }
  });
});
