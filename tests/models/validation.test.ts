/**
 * The engine's own check of generation parameters (it also runs for the command line, which has no message layer):
 * each impossible value is an InvalidParameterError whose message names the value, the rule and why, before any GPU
 * work. Sizes are multiples of the VAE's factor (8 for SD, the tiny fixture included), as in diffusers: the UNet
 * takes any latent size.
 */
import { describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { InvalidParameterError } from '../../engine/gpu/errors';
import { StableDiffusion, type GenerateParams } from '../../engine/pipeline';
import { gpuContext } from '../helpers/gpu';
import { TINY_MODEL } from './fixtures';

const base: GenerateParams = { prompt: 'a fox', steps: 2, guidance: 7.5, width: 64, height: 64, seed: 1 };

describe('engine parameter validation', () => {
  it('explains every impossible parameter', async () => {
    const folder = new ModelFolder(TINY_MODEL);
    const sd = await StableDiffusion.open(await gpuContext(), folder, { format: 'f32' });
    expect(sd.vaeFactor).toBe(8);
    const cases: [Partial<GenerateParams>, RegExp][] = [
      [{ width: 100 }, /width must be a multiple of 8 pixels \(nearest: 96 or 104\); got 100\. The model draws the image at 1\/8 of its size/],
      [{ height: 70.5 }, /height must be a multiple of 8 pixels \(nearest: 64 or 72\); got 70\.5/],
      [{ height: 0 }, /height must be a multiple of 8 pixels; got 0\./],
      [{ width: 4096 + 8 }, /width can be at most 4096 pixels/],
      [{ steps: 0 }, /Steps must be a whole number from 1 to 1000; got 0/],
      [{ steps: 2.5 }, /Steps must be a whole number from 1 to 1000; got 2\.5/],
      [{ guidance: Number.NaN }, /Guidance must be between 0 and 50; got NaN/],
      [{ guidance: 51 }, /Guidance must be between 0 and 50; got 51/],
      [{ seed: -1 }, /seed must be a whole number from 0 to 9007199254740991; got -1/],
      [{ seed: 2 ** 53 }, /seed must be a whole number/],
      [{ scheduler: 'k_lms' as GenerateParams['scheduler'] }, /Unknown scheduler "k_lms"/],
      [{ initImage: new Float32Array(64 * 64 * 3), strength: 0 }, /Strength must be in \(0, 1\]; got 0/],
      [{ initImage: new Float32Array(64 * 64 * 3), strength: 1.5 }, /Strength must be in \(0, 1\]; got 1\.5/],
      [{ initImage: new Float32Array(10) }, /starting image must be 64×64 RGB/],
    ];
    for (const [patch, message] of cases) {
      const error = (() => {
        try {
          sd.validate({ ...base, ...patch });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error, JSON.stringify(patch)).toBeInstanceOf(InvalidParameterError);
      expect((error as Error).message).toMatch(message);
    }
    expect(() => sd.validate(base)).not.toThrow();
    expect(() => sd.validate({ ...base, width: 72, height: 88 })).not.toThrow();
    await folder.close();
  });
});
