/**
 * How the tuner compares a candidate's output with the reference, the way the project states tolerances:
 * max |actual − expected| / max |expected| (the absolute error when the reference is all zero); NaN counts as
 * infinitely wrong, and so does a length mismatch.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}
