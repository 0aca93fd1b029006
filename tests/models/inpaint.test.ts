/**
 * Masked img2img on the tiny fixture model (64×64, two Euler steps, no guidance): a mask of ones is plain img2img,
 * a mask of zeros gives the starting image back, and half a mask keeps that half's pixels and redraws the other.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { InvalidParameterError } from '../../engine/gpu/errors';
import { StableDiffusion, type GenerateParams } from '../../engine/pipeline';
import { gpuContext } from '../helpers/gpu';
import { TINY_MODEL } from './fixtures';

const TIMEOUT = 300_000;
const SIZE = 64;

/** A smooth colour gradient: an image the VAE keeps recognisable. */
function gradient(): Float32Array {
  const image = new Float32Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) image.set([x / SIZE, y / SIZE, 0.5], (y * SIZE + x) * 3);
  }
  return image;
}

describe('inpainting', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());
  const init = gradient();
  const base: GenerateParams = { prompt: 'a red door', scheduler: 'euler', steps: 2, strength: 1, guidance: 0, width: SIZE, height: SIZE, seed: 7, initImage: init };

  it('equals img2img under a mask of ones and returns the starting image under a mask of zeros', async () => {
    const sd = await StableDiffusion.open(await gpuContext(), folder, { format: 'f32' });
    const plain = await sd.generate(base);
    const ones = await sd.generate({ ...base, mask: new Float32Array(SIZE * SIZE).fill(1) });
    expect(ones.image).toEqual(plain.image);
    expect(ones.latents).toEqual(plain.latents);
    const zeros = await sd.generate({ ...base, mask: new Float32Array(SIZE * SIZE) });
    expect(zeros.image).toEqual(init);
    sd.unload();
  }, TIMEOUT);

  it('keeps the unmasked half exactly and repaints the masked half', async () => {
    const sd = await StableDiffusion.open(await gpuContext(), folder, { format: 'f32' });
    const mask = new Float32Array(SIZE * SIZE);
    for (let y = 0; y < SIZE; y++) mask.fill(1, y * SIZE + SIZE / 2, (y + 1) * SIZE);
    const result = await sd.generate({ ...base, mask });
    let changed = 0;
    for (let y = 0; y < SIZE; y++) {
      const row = y * SIZE * 3;
      expect(result.image.subarray(row, row + (SIZE / 2) * 3)).toEqual(init.subarray(row, row + (SIZE / 2) * 3));
      for (let i = row + (SIZE / 2) * 3; i < row + SIZE * 3; i++) changed = Math.max(changed, Math.abs(result.image[i]! - init[i]!));
    }
    expect(changed).toBeGreaterThan(0.05);
    sd.unload();
  }, TIMEOUT);

  it('rejects a mask without a starting image, of the wrong size or out of range', async () => {
    const sd = await StableDiffusion.open(await gpuContext(), folder, { format: 'f32' });
    const cases: [Partial<GenerateParams>, RegExp][] = [
      [{ ...base, initImage: undefined, mask: new Float32Array(SIZE * SIZE) }, /give a starting image with it/],
      [{ ...base, mask: new Float32Array(10) }, /mask holds 10 values; a 64×64 image needs 4096/],
      [{ ...base, mask: new Float32Array(SIZE * SIZE).fill(2) }, /between 0 \(keep\) and 1 \(repaint\); pixel 0, 0 is 2/],
    ];
    for (const [params, message] of cases) {
      expect(() => sd.validate(params as GenerateParams)).toThrow(InvalidParameterError);
      expect(() => sd.validate(params as GenerateParams)).toThrow(message);
    }
  }, TIMEOUT);
});
