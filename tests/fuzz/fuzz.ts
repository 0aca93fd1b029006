/**
 * The fuzzers' shared pieces: a seeded generator of random values, text and bytes (the same cases on every run, so a
 * failure names a case that can be replayed), and the check every case must pass: it returns, or throws one of the
 * named errors the input's boundary promises, within a time bound.
 */
import { expect } from 'vitest';
import { seededRandom } from '../helpers/gpu';

export class Fuzz {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = seededRandom(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(values: readonly T[]): T {
    return values[this.int(values.length)]!;
  }

  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }

  /**
   * Text mixing the classes that break text handling: ASCII, Latin-1, combining marks, CJK, right-to-left, emoji
   * (surrogate pairs), lone surrogates, zero-width and control characters, whitespace of every kind, and fragments of
   * CLIP's special tokens and of HTML.
   */
  text(maxChars: number): string {
    const pieces = [
      () => String.fromCharCode(0x20 + this.int(0x5f)),
      () => String.fromCharCode(0xa0 + this.int(0x60)),
      () => String.fromCharCode(0x300 + this.int(0x70)),
      () => String.fromCharCode(0x4e00 + this.int(0x5000)),
      () => String.fromCharCode(0x590 + this.int(0x200)),
      () => String.fromCodePoint(0x1f300 + this.int(0x300)),
      () => String.fromCharCode(0xd800 + this.int(0x800)),
      () => this.pick(['\u200b', '\u200d', '\ufeff', '\u202e', '\u0000', '\u0007', '\u001b', '\u00ad', '\ufffd']),
      () => this.pick([' ', '\t', '\n', '\r\n', '\u00a0', '\u2028', '\u3000', '   ']),
      () => this.pick(['<|startoftext|>', '<|endoftext|>', '<|', '|>', "'s", "'ll", '</w>', '<script>', '&amp;', '"', '\\']),
      () => String.fromCodePoint(this.int(0x110000 - 0x800)),
    ];
    const length = this.int(maxChars + 1);
    let out = '';
    while (out.length < length) out += this.pick(pieces)();
    return out;
  }

  /** Any JSON value, nested up to `depth`, with the edge cases of numbers and strings. */
  json(depth = 3): unknown {
    const leaves: (() => unknown)[] = [
      () => null,
      () => this.chance(0.5),
      () => this.pick([0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e-308, 77, 64, 512, 4096, 150, 151]),
      () => (this.float() - 0.5) * 10 ** this.int(20),
      () => this.int(1000),
      () => this.text(12),
      () => this.pick(['', 'F32', 'F16', 'BF16', 'I64', 'result', 'error', 'generate', 'cancel', 'job-update', 'broadcast', 'offscreen', 'background', 'euler', 'done', 'failed', '__proto__', 'constructor']),
    ];
    if (depth <= 0 || this.chance(0.5)) return this.pick(leaves)();
    if (this.chance(0.4)) return Array.from({ length: this.int(5) }, () => this.json(depth - 1));
    const out: Record<string, unknown> = {};
    for (let i = this.int(5); i > 0; i--) {
      const key = this.chance(0.7) ? this.pick(['id', 'type', 'target', 'value', 'settings', 'job', 'name', 'message', 'jobId', 'dtype', 'shape', 'data_offsets', '__proto__']) : this.text(6);
      // An own property even for "__proto__", as JSON.parse makes it (assignment would set the prototype instead).
      Object.defineProperty(out, key, { value: this.json(depth - 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}

/** Error classes a boundary may throw; anything else thrown is a bug (a crash of that boundary). */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** The slowest case so far (this test file), for the log: a fuzzer's time bound is generous on a busy machine. */
export const slowest = { ms: 0, label: '' };

/**
 * Runs `run` and checks it returns or throws an instance of one of `allowed` whose message is not empty, within
 * `limitMs`. Returns the outcome: 'ok' or the error's class name.
 */
export async function expectNamedOutcome(label: string, run: () => unknown, allowed: readonly ErrorClass[], limitMs: number): Promise<string> {
  const started = performance.now();
  let outcome = 'ok';
  try {
    await run();
  } catch (error) {
    const named = allowed.some((c) => error instanceof c);
    expect(named, `${label}: threw ${String(error)}${error instanceof Error ? `\n${error.stack}` : ''}`).toBe(true);
    expect((error as Error).message.length, `${label}: empty message`).toBeGreaterThan(0);
    outcome = (error as Error).name;
  }
  const ms = performance.now() - started;
  if (ms > slowest.ms) Object.assign(slowest, { ms, label: label.slice(0, 120) });
  expect(ms, `${label}: took ${ms.toFixed(0)} ms`).toBeLessThan(limitMs);
  return outcome;
}

/** Counts of each outcome, to show (and assert) that a fuzzer reached both the accepting and the rejecting paths. */
export function tally(outcomes: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}
