/**
 * Several images from one Generate: each is a job of its own in the queue. With a fixed seed they take that seed and
 * the ones after it (A1111's batch count does the same), so any one of them can be made again alone from its seed;
 * without one each job draws its own random seed.
 */
import { LIMITS } from './messages';

/** The most images one Generate queues. */
export const MAX_IMAGES = 4;

/** The seeds of `count` jobs from the form's seed (`null`: random for each); past the largest seed they wrap to 0. */
export function seedSeries(seed: number | null, count: number): (number | null)[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_IMAGES) throw new RangeError(`count must be a whole number from 1 to ${MAX_IMAGES}; got ${count}`);
  const span = LIMITS.seed.max - LIMITS.seed.min + 1;
  return Array.from({ length: count }, (_, i) => (seed === null ? null : LIMITS.seed.min + ((seed - LIMITS.seed.min + i) % span)));
}
