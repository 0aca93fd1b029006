/** Settings of a job from selected text: the prompt, the cut at the protocol's limit, defaults over the model's. */
import { describe, expect, it } from 'vitest';
import { LIMITS, settingsProblem, type ModelInfo } from '../../lib/messages';
import { MODEL_DEFAULTS, parseGenerationDefaults, settingsFromSelection } from '../../lib/selection-job';

const MODEL: ModelInfo = { id: 'tiny-sd1', name: 'Tiny', width: 128, height: 128, sizes: [64, 128, 256], defaultScheduler: 'pndm' };

describe('a job from selected text', () => {
  it('makes the selection, with its runs of white space joined, the prompt of the model defaults', () => {
    const job = settingsFromSelection('  A lighthouse\n\n on a   cliff <b>at</b> dusk ', MODEL, {});
    expect(job).toEqual({
      cutChars: 0,
      settings: { prompt: 'A lighthouse on a cliff <b>at</b> dusk', negativePrompt: '', steps: MODEL_DEFAULTS.steps, guidance: MODEL_DEFAULTS.guidance, width: 128, height: 128, seed: null, scheduler: 'pndm', model: MODEL.id },
    });
    expect(settingsProblem(job!.settings)).toBeUndefined();
  });

  it('uses the user defaults over the model', () => {
    const job = settingsFromSelection('fox', MODEL, { steps: 2, guidance: 1, width: 64, height: 64, scheduler: 'euler', negativePrompt: 'blur' });
    expect(job?.settings).toMatchObject({ steps: 2, guidance: 1, width: 64, height: 64, scheduler: 'euler', negativePrompt: 'blur' });
  });

  it('cuts a long selection at the limit, never inside a character, and counts what was left out', () => {
    const long = 'a'.repeat(LIMITS.promptChars - 1) + '🦊' + 'b'.repeat(10);
    const job = settingsFromSelection(long, MODEL, {})!;
    expect(job.settings.prompt).toBe('a'.repeat(LIMITS.promptChars - 1));
    expect(job.cutChars).toBe(11);
    expect(settingsProblem(job.settings)).toBeUndefined();
  });

  it('makes no job of white space', () => {
    expect(settingsFromSelection(' \n\t ', MODEL, {})).toBeUndefined();
  });

  it('keeps only the valid stored defaults', () => {
    expect(parseGenerationDefaults({ steps: 4, guidance: 99, width: 100, scheduler: 'euler-a', extra: 1 })).toEqual({ steps: 4, scheduler: 'euler-a' });
    expect(parseGenerationDefaults(undefined)).toEqual({});
  });
});
