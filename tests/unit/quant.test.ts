import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from '../../engine/quant/f16';
import { dequantize, INT4_BLOCK, packWeight, paddedK, rowWords } from '../../engine/quant/pack';
import type { StorageFormat } from '../../engine/gpu/tensor';
import { randomArray } from '../helpers/gpu';

describe('f16', () => {
  it('converts known values exactly', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [2 ** -24, 0x0001], [2 ** -14, 0x0400],
      [Infinity, 0x7c00], [1e6, 0x7c00], [1 + 2 ** -11, 0x3c00] /* tie rounds to even */, [1 + 3 * 2 ** -11, 0x3c02],
    ];
    for (const [value, bits] of cases) expect(f32ToF16Bits(value), `${value}`).toBe(bits);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
  });

  it('round-trips every finite half', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      expect(f32ToF16Bits(f16BitsToF32(bits))).toBe(bits === 0x8000 ? 0x8000 : bits);
    }
  });

  it('rounds within half an ulp', () => {
    const xs = randomArray(1000, 3, 100);
    const rounded = roundToF16(xs);
    xs.forEach((x, i) => {
      const r = rounded[i]!;
      expect(Math.abs(r - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -25);
    });
  });
});

describe('weight packing', () => {
  const shapes: [number, number][] = [[1, 1], [3, 5], [7, 33], [4, 64], [2, 100]];
  const formats: StorageFormat[] = ['f32', 'f16', 'int8', 'int4'];

  for (const format of formats) {
    for (const [n, k] of shapes) {
      it(`${format} [${n},${k}] dequantises within the format's error bound`, () => {
        const values = randomArray(n * k, n * 100 + k, 2);
        const packed = packWeight(values, n, k, format);
        expect(packed.data.length).toBe(format === 'f32' ? n * k : n * rowWords(format, k));
        const back = dequantize(packed);
        for (let r = 0; r < n; r++) {
          for (let c = 0; c < k; c++) {
            const v = values[r * k + c]!;
            let bound: number;
            if (format === 'f32') bound = 0;
            else if (format === 'f16') bound = Math.abs(v) * 2 ** -11;
            else {
              const lo = format === 'int8' ? r * k : r * k + Math.floor(c / INT4_BLOCK) * INT4_BLOCK;
              const hi = format === 'int8' ? (r + 1) * k : Math.min((r + 1) * k, lo + INT4_BLOCK);
              let max = 0;
              for (let i = lo; i < hi; i++) max = Math.max(max, Math.abs(values[i]!));
              // Half a quantisation step, plus the f16 rounding of the scale applied to the largest level.
              bound = (max / (format === 'int8' ? 127 : 7)) * (0.5 + 2 ** -10 * (format === 'int8' ? 127 : 8));
            }
            expect(Math.abs(back[r * k + c]! - v), `${format} [${r},${c}]`).toBeLessThanOrEqual(bound + 1e-12);
          }
        }
      });
    }
  }

  it('pads rows to whole words with zeros', () => {
    expect(paddedK('int4', 33)).toBe(64);
    expect(rowWords('int8', 5)).toBe(2);
    const packed = packWeight(new Float32Array(5).fill(1), 1, 5, 'int8');
    expect(packed.data[1]! >>> 8).toBe(0);
  });

  it('keeps an all-zero row at zero', () => {
    const back = dequantize(packWeight(new Float32Array(40), 1, 40, 'int4'));
    expect(back.every((v) => v === 0)).toBe(true);
  });
});
