import { describe, expect, it } from 'vitest';
import { MAX_IMAGES, seedSeries } from '../../lib/batch';
import { LIMITS } from '../../lib/messages';

describe('seedSeries', () => {
  it('gives a fixed seed and the ones after it, one per image', () => {
    expect(seedSeries(1234, 1)).toEqual([1234]);
    expect(seedSeries(1234, 3)).toEqual([1234, 1235, 1236]);
  });

  it('leaves every seed random when the form had none', () => {
    expect(seedSeries(null, MAX_IMAGES)).toEqual([null, null, null, null]);
  });

  it('wraps past the largest seed to the smallest', () => {
    expect(seedSeries(LIMITS.seed.max - 1, 3)).toEqual([LIMITS.seed.max - 1, LIMITS.seed.max, LIMITS.seed.min]);
  });

  it('refuses counts outside 1 to MAX_IMAGES', () => {
    for (const count of [0, MAX_IMAGES + 1, 1.5, NaN]) expect(() => seedSeries(1, count)).toThrow(RangeError);
  });
});
