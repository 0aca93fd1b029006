/** Settings of a job from selected text: the prompt, the cut at the protocol's limit, the user's defaults over the model's. */
import { describe, expect, it } from 'vitest';
import { LIMITS, settingsProblem, type ModelInfo } from '../../lib/messages';
import { settingsFromSelection } from '../../lib/selection-job';
import { DEFAULT_PREFERENCES } from '../../storage/preferences';

const MODEL: ModelInfo = { id: 'tiny-sd1', name: 'Tiny', width: 128, height: 128, sizes: [64, 128, 256], defaultScheduler: 'pndm' };
const DEFAULTS = DEFAULT_PREFERENCES.defaults;

describe('a job from selected text', () => {
  it('makes the selection, with its runs of white space joined, the prompt; size and scheduler are the model’s unless set', () => {
    const job = settingsFromSelection('  A lighthouse\n\n on a   cliff <b>at</b> dusk ', MODEL, DEFAULTS);
    expect(job).toEqual({
      cutChars: 0,
      settings: { prompt: 'A lighthouse on a cliff <b>at</b> dusk', negativePrompt: '', steps: DEFAULTS.steps, guidance: DEFAULTS.guidance, width: 128, height: 128, seed: null, scheduler: 'pndm', model: MODEL.id, emphasis: true },
    });
    expect(settingsProblem(job!.settings)).toBeUndefined();
  });

  it('uses the user defaults over the model', () => {
    const job = settingsFromSelection('fox', MODEL, { steps: 2, guidance: 1, size: 64, scheduler: 'euler', emphasis: false });
    expect(job?.settings).toMatchObject({ steps: 2, guidance: 1, width: 64, height: 64, scheduler: 'euler', emphasis: false });
  });

  it('falls back to the model’s size when the default size is not one the model offers', () => {
    const job = settingsFromSelection('fox', MODEL, { ...DEFAULTS, size: 768 });
    expect(job?.settings).toMatchObject({ width: 128, height: 128 });
  });

  it('cuts a long selection at the limit, never inside a character, and counts what was left out', () => {
    const long = 'a'.repeat(LIMITS.promptChars - 1) + '🦊' + 'b'.repeat(10);
    const job = settingsFromSelection(long, MODEL, DEFAULTS)!;
    expect(job.settings.prompt).toBe('a'.repeat(LIMITS.promptChars - 1));
    expect(job.cutChars).toBe(11);
    expect(settingsProblem(job.settings)).toBeUndefined();
  });

  it('makes no job of white space', () => {
    expect(settingsFromSelection(' \n\t ', MODEL, DEFAULTS)).toBeUndefined();
  });
});
