/**
 * The engine's own check of generation parameters (it also runs for the command line, which has no message layer):
 * each impossible value is an InvalidParameterError whose message names the value, the rule and why, before any GPU
 * work. Sizes follow the model: the tiny SD 1.x fixture halves its latent once (2 UNet levels), so its sizes are
 * multiples of 8 × 2 = 16; SD 1.5 (4 levels) needs multiples of 64.
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
    const multiple = sd.vaeFactor * 2 ** (sd.configs.unet.blockOutChannels.length - 1);
    const cases: [Partial<GenerateParams>, RegExp][] = [
      [{ width: multiple + 8 }, new RegExp(`width must be a multiple of ${multiple} pixels for this model \\(nearest: ${multiple} or ${2 * multiple}\\); got ${multiple + 8}\\. .*must divide by 8 × ${multiple / 8} = ${multiple}`)],
      [{ height: 0 }, new RegExp(`height must be a multiple of ${multiple} pixels for this model; got 0`)],
      [{ width: 4096 + multiple }, /width can be at most 4096 pixels/],
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
    await folder.close();
  });
});
