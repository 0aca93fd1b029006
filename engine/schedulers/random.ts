/**
 * A seeded standard-normal generator: the same seed gives the same draws on every run and platform.
 *
 * Uniforms come from xoshiro128** (Blackman & Vigna 2018; 32-bit state words, period 2¹²⁸ − 1), whose 128-bit state
 * is filled from the seed by SplitMix64, the seeding its authors recommend. Normals come from the Box–Muller
 * transform on pairs of uniforms, u₁ ∈ (0, 1] and u₂ ∈ [0, 1) at 2⁻³² resolution:
 *   z₀ = √(−2 ln u₁) cos 2πu₂,  z₁ = √(−2 ln u₁) sin 2πu₂
 * computed in double and rounded to float32. The second value of a pair is kept for the next call, so the stream
 * does not depend on how it is split into calls: normal(3) then normal(5) equals normal(8).
 *
 * This is not torch's generator: `torch.randn` with `torch.manual_seed(s)` (Mersenne Twister, its own normal
 * transform) gives other numbers for the same seed, so images differ from diffusers' for equal seeds. Parity tests
 * feed the reference's noise in explicitly instead (the fixtures' `init_latents`).
 */
import type { NormalGenerator } from './types';

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64 (Steele, Lea & Flood 2014): the next state and output. */
function splitMix64(state: bigint): [bigint, bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class SeededNormalGenerator implements NormalGenerator {
  private readonly s = new Uint32Array(4);
  private spare: number | null = null;

  /** `seed`: an integer in [0, 2⁶⁴), as a number (safe integer) or a bigint. */
  constructor(seed: number | bigint) {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
      throw new RangeError(`The seed must be an integer (up to 2^53 as a number), not ${seed}.`);
    }
    let state = BigInt(seed);
    if (state < 0n || state > MASK64) throw new RangeError(`The seed must be in [0, 2^64), not ${seed}.`);
    for (let i = 0; i < 4; i += 2) {
      const [next, out] = splitMix64(state);
      state = next;
      this.s[i] = Number(out & 0xffffffffn);
      this.s[i + 1] = Number(out >> 32n);
    }
  }

  /** The next xoshiro128** output, an unsigned 32-bit integer. */
  nextUint32(): number {
    const st = this.s;
    let s0 = st[0]!;
    let s1 = st[1]!;
    let s2 = st[2]!;
    let s3 = st[3]!;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    st[0] = s0;
    st[1] = s1;
    st[2] = s2;
    st[3] = s3;
    return result;
  }

  normal(n: number): Float32Array {
    const out = new Float32Array(n);
    let i = 0;
    if (n > 0 && this.spare !== null) {
      out[i++] = this.spare;
      this.spare = null;
    }
    while (i < n) {
      const u1 = (this.nextUint32() + 1) / 2 ** 32;
      const u2 = this.nextUint32() / 2 ** 32;
      const r = Math.sqrt(-2 * Math.log(u1));
      const theta = 2 * Math.PI * u2;
      out[i++] = r * Math.cos(theta);
      const second = r * Math.sin(theta);
      if (i < n) out[i++] = second;
      else this.spare = second;
    }
    return out;
  }
}

export function createGenerator(seed: number | bigint): SeededNormalGenerator {
  return new SeededNormalGenerator(seed);
}
