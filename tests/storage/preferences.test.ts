/** Preferences: defaults, validation key by key, and a save that reads back what it stored. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PREFERENCES, endpointProblem, loadPreferences, readPreferences, savePreferences } from '../../storage/preferences';
import { freshDb } from './fixture';

describe('preferences', () => {
  it('defaults when nothing is stored, and keeps each valid key of a stored value', () => {
    expect(readPreferences(undefined)).toEqual(DEFAULT_PREFERENCES);
    expect(readPreferences('junk')).toEqual(DEFAULT_PREFERENCES);
    const read = readPreferences({
      hubEndpoint: 'https://hf-mirror.example/',
      defaults: { scheduler: 'lcm', steps: 0, guidance: 4, size: 513, emphasis: false },
      weightFormat: 'int8',
      attentionBudgetMiB: 100,
      memory: 'low',
      model: '',
      firstRunDone: true,
    });
    expect(read).toEqual({
      ...DEFAULT_PREFERENCES,
      hubEndpoint: 'https://hf-mirror.example',
      // steps 0 and size 513 are out of range: their defaults.
      defaults: { scheduler: 'lcm', steps: 20, guidance: 4, size: null, emphasis: false },
      weightFormat: 'int8',
      memory: 'low',
      firstRunDone: true,
    });
  });

  it('accepts http(s) endpoints only, without query or credentials', () => {
    expect(endpointProblem('https://huggingface.co')).toBeUndefined();
    expect(endpointProblem('http://127.0.0.1:8080')).toBeUndefined();
    expect(endpointProblem('ftp://mirror')).toMatch(/http or https/);
    expect(endpointProblem('huggingface.co')).toMatch(/not a web address/);
    expect(endpointProblem('https://user:pw@mirror.example')).toMatch(/credentials/);
    expect(readPreferences({ hubEndpoint: 'javascript:alert(1)' }).hubEndpoint).toBe(DEFAULT_PREFERENCES.hubEndpoint);
  });

  it('turns prompt weighting on unless a stored value turned it off', () => {
    expect(DEFAULT_PREFERENCES.defaults.emphasis).toBe(true);
    // Stored before the preference existed, or not a boolean: on.
    expect(readPreferences({ defaults: { steps: 4 } }).defaults.emphasis).toBe(true);
    expect(readPreferences({ defaults: { emphasis: 'no' } }).defaults.emphasis).toBe(true);
    expect(readPreferences({ defaults: { emphasis: false } }).defaults.emphasis).toBe(false);
  });

  it('saves a patch over the stored preferences', async () => {
    const { db } = await freshDb();
    await savePreferences(db, { memory: 'low' });
    const saved = await savePreferences(db, { attentionBudgetMiB: 32, defaults: { scheduler: null, steps: 4, guidance: 1, size: 512, emphasis: false } });
    expect(saved).toMatchObject({ memory: 'low', attentionBudgetMiB: 32, defaults: { steps: 4, size: 512, emphasis: false } });
    expect(await loadPreferences(db)).toEqual(saved);
  });
});
