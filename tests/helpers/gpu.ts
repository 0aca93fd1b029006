/**
 * Test helpers: one GPU context per test file (Dawn + SwiftShader in Node), seeded random data, and a closeness
 * check that reports the relative error the way the project states tolerances: max |a − b| / max |b|.
 */
import { afterAll, expect } from 'vitest';
import { GpuContext } from '../../engine/gpu/context';
import { nodeGpu } from '../../engine/gpu/node-gpu';
import { relativeError } from '../../engine/tune/compare';

export { relativeError };

let shared: Promise<GpuContext> | undefined;

// Registered while the test file is collected, so it runs after the file's tests.
afterAll(async () => {
  await (await shared)?.destroy();
  // Let Dawn's threads wind down before the worker exits.
  await new Promise((resolve) => setTimeout(resolve, 200));
});

/** The context for this test file, created on first use and destroyed after the file's tests. */
export function gpuContext(): Promise<GpuContext> {
  shared ??= nodeGpu().then((gpu) => GpuContext.create(gpu));
  return shared;
}

/** mulberry32: small, fast, and the same sequence everywhere. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` values uniform in [-scale, scale) from `seed`. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}

/** Asserts equal length and relative error ≤ tol. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'result'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const err = relativeError(actual, expected);
  expect(err, `${what}: relative error ${err.toExponential(2)} > ${tol}`).toBeLessThanOrEqual(tol);
}

/** Channels [offset, offset + c) of an NHWC read-back with `total` channels; asserts the others equal `before`. */
export function sliceOf(after: Float32Array, before: Float32Array, total: number, offset: number, c: number): Float32Array {
  const slice = new Float32Array((after.length / total) * c);
  for (let p = 0; p < after.length / total; p++) {
    for (let ch = 0; ch < total; ch++) {
      const v = after[p * total + ch]!;
      if (ch >= offset && ch < offset + c) slice[p * c + ch - offset] = v;
      else expect(v).toBe(before[p * total + ch]);
    }
  }
  return slice;
}
