/**
 * The seeded normal generator (engine/schedulers/random.ts): its uniform stream against the xoshiro128** authors'
 * reference C code, and the Box–Muller normals for determinism and distribution.
 */
import { describe, expect, it } from 'vitest';
import { createGenerator } from '../../engine/schedulers';

describe('SeededNormalGenerator', () => {
  it('reproduces xoshiro128** seeded by SplitMix64 (reference C implementation, first six outputs)', () => {
    // From prng.di.unimi.it's xoshiro128starstar.c and splitmix64.c: s[0..3] = low/high words of two SplitMix64
    // outputs of the seed.
    const known: [number | bigint, number[]][] = [
      [0, [3737715805, 2584255861, 2876756834, 3286328325, 1553311962, 1625202774]],
      [42, [1776835114, 4165204688, 17111135, 2317295270, 2792088233, 2554630222]],
      [2n ** 64n - 1n, [477689756, 2493998634, 555695776, 607808419, 61340979, 301466976]],
    ];
    for (const [seed, outputs] of known) {
      const g = createGenerator(seed);
      expect(outputs.map(() => g.nextUint32()), `seed ${seed}`).toEqual(outputs);
    }
  });

  it('gives the first normal pair by Box–Muller from the first two uniforms', () => {
    const u = createGenerator(7);
    const u1 = (u.nextUint32() + 1) / 2 ** 32;
    const u2 = u.nextUint32() / 2 ** 32;
    const r = Math.sqrt(-2 * Math.log(u1));
    const z = createGenerator(7).normal(2);
    expect(Array.from(z)).toEqual([Math.fround(r * Math.cos(2 * Math.PI * u2)), Math.fround(r * Math.sin(2 * Math.PI * u2))]);
  });

  it('is deterministic per seed, differs between seeds, and does not depend on how draws are split', () => {
    const a = createGenerator(1234).normal(1001);
    expect(createGenerator(1234).normal(1001)).toEqual(a);
    expect(createGenerator(1234n).normal(1001)).toEqual(a);
    expect(createGenerator(1235).normal(1001)).not.toEqual(a);
    const g = createGenerator(1234);
    const parts = [g.normal(3), g.normal(0), g.normal(5), g.normal(993)];
    expect(Float32Array.from(parts.flatMap((p) => Array.from(p)))).toEqual(a);
  });

  it('draws N(0, 1): moments of 2·10⁵ samples within 5 standard errors', () => {
    const n = 200_000;
    const z = createGenerator(99).normal(n);
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    for (const v of z) {
      m1 += v;
      m2 += v * v;
      m4 += v ** 4;
    }
    m1 /= n;
    m2 /= n;
    m4 /= n;
    // Standard errors: mean 1/√n, variance √(2/n), fourth moment √(96/n) (E z⁸ − (E z⁴)² = 105 − 9).
    expect(Math.abs(m1)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(m4 - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
    const inside = z.reduce((count, v) => count + (Math.abs(v) < 1.959964 ? 1 : 0), 0) / n;
    expect(Math.abs(inside - 0.95)).toBeLessThan(5 * Math.sqrt((0.95 * 0.05) / n));
  });

  it('refuses seeds it cannot represent', () => {
    expect(() => createGenerator(1.5)).toThrow(RangeError);
    expect(() => createGenerator(-1)).toThrow(RangeError);
    expect(() => createGenerator(2n ** 64n)).toThrow(RangeError);
  });
});
