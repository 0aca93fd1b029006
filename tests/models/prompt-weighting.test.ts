/** Prompt weighting through the tiny fixture model's text encoder: the pipeline's conditioning vs A1111's rule. */
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { StableDiffusion } from '../../engine/pipeline';
import * as ref from '../../engine/ref/prompt-weights';
import { expectClose, gpuContext } from '../helpers/gpu';
import { TINY_MODEL } from './fixtures';

// The op's two f32 sums over 77 × hidden values against f64 ones. The encoder's output averages ~1e-3 of its mean
// magnitude, so the sums lose about three digits to cancellation: measured 3e-6 to 9e-6 on this model's prompts
// (A1111 sums in f32 or f16 too).
const TOL = 3e-5;

describe('prompt weighting in the pipeline', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());
  const open = async () => StableDiffusion.open(await gpuContext(), folder, { format: 'f32' });

  it('conditions "a (cat:1.0)" exactly as "a cat", and "a (cat:1.5)" as the rule on the unweighted output', async () => {
    const sd = await open();
    const plain = sd.tokenizer.tokenize('a cat');
    const unweighted = await sd.encodeText(plain.ids);
    expect(await sd.encodePrompt('a (cat:1.0)', { emphasis: true })).toEqual(unweighted);

    const tokens = sd.tokenizePrompt('a (cat:1.5)', true);
    expect(tokens.ids).toEqual(plain.ids);
    const catAt = plain.ids.indexOf(sd.tokenizer.encode('cat')[0]!);
    expect(tokens.weights.map((w, i) => (i === catAt ? w === 1.5 : w === 1)).every(Boolean)).toBe(true);
    const weighted = await sd.encodePrompt('a (cat:1.5)', { emphasis: true });
    expectClose(weighted, ref.promptWeights(unweighted, Float32Array.from(tokens.weights), tokens.ids.length), TOL);
    expect(weighted).not.toEqual(unweighted);
    sd.unload();
  });

  it('reads brackets as text with emphasis off (the default), as before', async () => {
    const sd = await open();
    const text = 'a (cat:1.5), [blurry]';
    const today = sd.tokenizer.tokenize(text);
    const off = sd.tokenizePrompt(text);
    expect(off.ids).toEqual(today.ids);
    expect(off.weights).toEqual(new Array(77).fill(1));
    expect(await sd.encodePrompt(text)).toEqual(await sd.encodeText(today.ids));
    sd.unload();
  });
});
