/**
 * Fuzzing the safetensors reader: thousands of files made from a valid one by truncation, absurd header lengths, bit
 * flips, edited header entries (offsets that overlap or run past the end, unknown dtypes, wrong shapes, missing and
 * extra keys), random JSON headers and random bytes. Opening each and reading every tensor must give correct values
 * or a CorruptModelError / UnsupportedDtypeError, never another exception, and never take long.
 */
import { describe, expect, it } from 'vitest';
import { CorruptModelError, UnsupportedDtypeError } from '../../engine/io/errors';
import { isReadableDtype, openSafetensors } from '../../engine/io/safetensors';
import { safetensorsBytes, withHeaderText } from '../unit/helpers/safetensors-file';
import { expectNamedOutcome, Fuzz, slowest, tally } from './fuzz';

export const SAFETENSORS_CASES = 6000;

/** A small valid file with every kind of entry the reader handles: F32, F16, BF16, an integer buffer, metadata. */
function validFile(): { bytes: Uint8Array; header: Record<string, unknown>; data: Uint8Array } {
  const f32 = new Uint8Array(Float32Array.of(1, -2, 3.5, 0, 1e-3, 65504).buffer);
  const f16 = new Uint8Array(Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7bff).buffer);
  const bf16 = new Uint8Array(Uint16Array.of(0x3f80, 0xbf80, 0x4049, 0x0000).buffer);
  const i64 = new Uint8Array(8).fill(1);
  const data = new Uint8Array([...f32, ...f16, ...bf16, ...i64]);
  const header = {
    __metadata__: { format: 'pt' },
    'w.f32': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
    'w.f16': { dtype: 'F16', shape: [4], data_offsets: [24, 32] },
    'w.bf16': { dtype: 'BF16', shape: [2, 2], data_offsets: [32, 40] },
    position_ids: { dtype: 'I64', shape: [1, 1], data_offsets: [40, 48] },
  };
  return { bytes: safetensorsBytes(header, data), header, data };
}

const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F64', 'F8_E4M3', 'Q4_K', 'f32', 'F32 ', '', 'float16', 'INT4', '__proto__', 'toString'];

function mutateEntry(fuzz: Fuzz, entry: Record<string, unknown>, dataBytes: number): void {
  const offsets = (entry.data_offsets as number[] | undefined) ?? [0, 0];
  switch (fuzz.int(9)) {
    case 0: // begin inside the previous tensor, or past the end
      entry.data_offsets = [Math.max(0, offsets[0]! - 1 - fuzz.int(8)), offsets[1]];
      break;
    case 1:
      entry.data_offsets = [offsets[0], offsets[1]! + 1 + fuzz.int(dataBytes)];
      break;
    case 2:
      entry.data_offsets = [fuzz.json(0), fuzz.json(0)];
      break;
    case 3:
      entry.data_offsets = fuzz.pick([[offsets[1], offsets[0]], [0, 2 ** 53], [2 ** 64, 2 ** 64 + 8], [0.5, 8], [-8, 0], [0], [0, 8, 16], '0,8', null]);
      break;
    case 4:
      entry.dtype = fuzz.chance(0.7) ? fuzz.pick(DTYPES) : fuzz.json(1);
      break;
    case 5:
      entry.shape = fuzz.pick([[], [0], [-1], [1.5], [2 ** 53], [2 ** 30, 2 ** 30], ['2'], null, [[2]], [1, 1, 1, 1, 1, 1, 1, 1]]);
      break;
    case 6:
      entry.shape = Array.from({ length: fuzz.int(4) }, () => fuzz.int(10));
      break;
    case 7:
      delete entry[fuzz.pick(['dtype', 'shape', 'data_offsets'])];
      break;
    default:
      entry[fuzz.pick(['dtype', 'shape', 'data_offsets', 'extra'])] = fuzz.json(2);
  }
}

/** One damaged (or, by chance, still valid) file. */
function mutant(fuzz: Fuzz, base: ReturnType<typeof validFile>): Uint8Array {
  const { bytes, header, data } = base;
  switch (fuzz.int(8)) {
    case 0:
      return bytes.slice(0, fuzz.int(bytes.length));
    case 1: {
      const out = bytes.slice();
      const view = new DataView(out.buffer);
      const length = fuzz.pick([0, 1, 7, 8, out.length - 8, out.length - 7, out.length, 2 ** 31, 2 ** 32 - 1, 100_000_001]);
      if (fuzz.chance(0.3)) view.setBigUint64(0, BigInt.asUintN(64, BigInt(fuzz.int(2 ** 30)) << BigInt(fuzz.int(40))), true);
      else view.setBigUint64(0, BigInt(Math.max(0, length)), true);
      return out;
    }
    case 2: {
      const out = bytes.slice();
      for (let n = 1 + fuzz.int(8); n > 0; n--) out[fuzz.int(out.length)]! ^= 1 << fuzz.int(8);
      return out;
    }
    case 3: {
      // Bit flips in the data section only: the header stays valid, the values may become NaN or infinite.
      const out = bytes.slice();
      const start = out.length - data.length;
      for (let n = 1 + fuzz.int(4); n > 0; n--) out[start + fuzz.int(data.length)]! ^= 1 << fuzz.int(8);
      return out;
    }
    case 4:
    case 5: {
      const edited = structuredClone(header) as Record<string, Record<string, unknown>>;
      for (let n = 1 + fuzz.int(3); n > 0; n--) {
        const names = Object.keys(edited).filter((k) => k !== '__metadata__');
        if (fuzz.chance(0.15)) edited[fuzz.text(8)] = fuzz.json(2) as Record<string, unknown>;
        else if (fuzz.chance(0.1)) edited.__metadata__ = fuzz.json(2) as Record<string, unknown>;
        else {
          const name = fuzz.pick(names);
          if (typeof edited[name] === 'object' && edited[name] !== null) mutateEntry(fuzz, edited[name], data.length);
          else edited[name] = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
        }
      }
      const cut = fuzz.chance(0.2) ? fuzz.int(data.length) : data.length;
      return safetensorsBytes(edited, data.subarray(0, cut));
    }
    case 6: {
      const text = fuzz.chance(0.8) ? JSON.stringify(fuzz.json(4)) ?? 'null' : fuzz.text(200);
      return withHeaderText(text, fuzz.bytes(fuzz.int(64)));
    }
    default:
      return fuzz.bytes(fuzz.int(128));
  }
}

describe('fuzz: safetensors reader', () => {
  it(`${SAFETENSORS_CASES} damaged files: correct values or a named error, each within 1 s`, async () => {
    const fuzz = new Fuzz(0x5afe);
    const base = validFile();
    const outcomes: string[] = [];
    for (let i = 0; i < SAFETENSORS_CASES; i++) {
      const bytes = mutant(fuzz, base);
      const outcome = await expectNamedOutcome(
        `case ${i}`,
        async () => {
          const file = await openSafetensors(bytes, 'fuzz.safetensors');
          for (const t of file.tensors.values()) {
            expect(t.byteOffset + t.byteLength).toBeLessThanOrEqual(bytes.length);
            const raw = await file.readRaw(t.name);
            expect(raw).toEqual(bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength));
            if (!isReadableDtype(t.dtype)) continue;
            const values = await file.readTensor(t.name);
            expect(values.length).toBe(t.shape.reduce((a, d) => a * d, 1));
          }
        },
        [CorruptModelError, UnsupportedDtypeError],
        1000,
      );
      outcomes.push(outcome);
    }
    const counts = tally(outcomes);
    console.log(`safetensors fuzz, ${SAFETENSORS_CASES} cases:`, counts, `slowest ${slowest.ms.toFixed(0)} ms`);
    // Both paths were reached: files that still open (and read correctly) and each kind of rejection.
    expect(counts.ok).toBeGreaterThan(50);
    expect(counts.CorruptModelError).toBeGreaterThan(SAFETENSORS_CASES / 2);
    expect(counts.UnsupportedDtypeError).toBeGreaterThan(10);
  }, 60_000);
});
