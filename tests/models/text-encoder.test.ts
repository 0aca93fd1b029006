import { afterAll, describe, it } from 'vitest';
import { StableDiffusion } from '../../engine/pipeline';
import { ModelFolder } from '../../cli/model-folder';
import { expectClose, gpuContext } from '../helpers/gpu';
import { cases, tensor, TINY_MODEL } from './fixtures';

// Three f32 transformer layers: the reference's own fp32 noise is ~1e-6 relative; 1e-4 leaves room for the
// different summation order of our GEMMs and the erf-free GELU approximations.
const TOL = 1e-4;

describe('CLIP text encoder vs the reference', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());

  cases.text_encoder.forEach((c, i) => {
    it(`case ${i}: "${c.text.slice(0, 40)}"`, async () => {
      const ctx = await gpuContext();
      const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
      expectClose(await sd.encodeText(sd.tokenizer.tokenize(c.text).ids), tensor(c.hidden), TOL, 'last_hidden_state');
      sd.unload();
    });
  });
});
