/**
 * Weight storage formats and their packing. A weight is a matrix [N, K]: N output channels (rows), K the
 * reduction axis (for a 3×3 convolution K = 9·Cin in the kernel's own order). Each row is padded to whole words,
 * so row n always starts at word `n * rowWords`:
 *
 * | format | value of w[n,k]                                                        | padding of K | scales            |
 * | ------ | ---------------------------------------------------------------------- | ------------ | ----------------- |
 * | f32    | `data[n*K + k]` (Float32Array, no padding)                              | none         | none              |
 * | f16    | half `k&1` of u32 `data[n*rowWords + k/2]`                              | 2            | none              |
 * | int8   | signed byte `k&3` of `data[n*rowWords + k/4]` × scale[n]                 | 4            | one f16 per row   |
 * | int4   | signed nibble `k&7` of `data[n*rowWords + k/8]` × scale[n*blocks + k/32] | 32 (a block) | one f16 per block |
 *
 * Scales are f16, packed two per u32 (`scale[i]` is half `i&1` of word `i/2`). Quantisation is symmetric:
 * int8 uses ±127 · scale with scale = max|row| / 127; int4 uses [-8, 7] · scale with scale = max|block| / 7.
 * Padding values are zero, so kernels may read them.
 */
import { f16BitsToF32, f32ToF16Bits } from './f16';
import type { StorageFormat } from '../gpu/tensor';

export const INT4_BLOCK = 32;

export interface PackedWeight {
  format: StorageFormat;
  /** [N, K] */
  shape: [number, number];
  data: Float32Array | Uint32Array;
  scales?: Uint32Array;
}

/** K rounded up to the format's padding. */
export function paddedK(format: StorageFormat, k: number): number {
  const pad = { f32: 1, f16: 2, int8: 4, int4: INT4_BLOCK }[format];
  return Math.ceil(k / pad) * pad;
}

/** u32 words (f32 values for `f32`) per row. */
export function rowWords(format: StorageFormat, k: number): number {
  const perWord = { f32: 1, f16: 2, int8: 4, int4: 8 }[format];
  return paddedK(format, k) / perWord;
}

function packHalves(values: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1]! |= f32ToF16Bits(values[i]!) << ((i & 1) * 16);
  return out;
}

function unpackHalf(words: Uint32Array, i: number): number {
  return f16BitsToF32((words[i >> 1]! >>> ((i & 1) * 16)) & 0xffff);
}

export function packWeight(values: Float32Array, n: number, k: number, format: StorageFormat): PackedWeight {
  if (values.length !== n * k) throw new Error(`packWeight: ${values.length} values for [${n}, ${k}]`);
  const shape: [number, number] = [n, k];
  if (format === 'f32') return { format, shape, data: values };
  const words = rowWords(format, k);
  const data = new Uint32Array(n * words);
  if (format === 'f16') {
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < k; c++) data[r * words + (c >> 1)]! |= f32ToF16Bits(values[r * k + c]!) << ((c & 1) * 16);
    }
    return { format, shape, data };
  }
  if (format === 'int8') {
    const scales = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      let max = 0;
      for (let c = 0; c < k; c++) max = Math.max(max, Math.abs(values[r * k + c]!));
      // The scale is stored as f16: quantise against the rounded scale so dequantisation is exact.
      const scale = unpackHalf(packHalves([max / 127]), 0) || 1;
      scales[r] = scale;
      for (let c = 0; c < k; c++) {
        const q = Math.max(-127, Math.min(127, Math.round(values[r * k + c]! / scale)));
        data[r * words + (c >> 2)]! |= (q & 0xff) << ((c & 3) * 8);
      }
    }
    return { format, shape, data, scales: packHalves(scales) };
  }
  const blocks = paddedK(format, k) / INT4_BLOCK;
  const scales = new Float32Array(n * blocks);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      let max = 0;
      const end = Math.min(k, (b + 1) * INT4_BLOCK);
      for (let c = b * INT4_BLOCK; c < end; c++) max = Math.max(max, Math.abs(values[r * k + c]!));
      const scale = unpackHalf(packHalves([max / 7]), 0) || 1;
      scales[r * blocks + b] = scale;
      for (let c = b * INT4_BLOCK; c < end; c++) {
        const q = Math.max(-8, Math.min(7, Math.round(values[r * k + c]! / scale)));
        data[r * words + (c >> 3)]! |= (q & 0xf) << ((c & 7) * 4);
      }
    }
  }
  return { format, shape, data, scales: packHalves(scales) };
}

/** The values a kernel sees for a packed weight: the CPU side of the dequantisation contract. */
export function dequantize(w: PackedWeight): Float32Array {
  const [n, k] = w.shape;
  if (w.format === 'f32') return Float32Array.from(w.data as Float32Array);
  const data = w.data as Uint32Array;
  const words = rowWords(w.format, k);
  const out = new Float32Array(n * k);
  const blocks = paddedK(w.format, k) / INT4_BLOCK;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      let v: number;
      if (w.format === 'f16') v = unpackHalf(data, r * words * 2 + c);
      else if (w.format === 'int8') v = (((data[r * words + (c >> 2)]! >>> ((c & 3) * 8)) << 24) >> 24) * unpackHalf(w.scales!, r);
      else v = (((data[r * words + (c >> 3)]! >>> ((c & 7) * 4)) << 28) >> 28) * unpackHalf(w.scales!, r * blocks + (c >> 5));
      out[r * k + c] = v;
    }
  }
  return out;
}

/** Bytes of the packed values and of the scales of an [N, K] weight in `format` (what `packWeight` produces). */
export function packedBytes(format: StorageFormat, n: number, k: number): { data: number; scales: number } {
  if (format === 'f32') return { data: n * k * 4, scales: 0 };
  const scaleCount = format === 'int8' ? n : format === 'int4' ? n * (paddedK(format, k) / INT4_BLOCK) : 0;
  return { data: n * rowWords(format, k) * 4, scales: Math.ceil(scaleCount / 2) * 4 };
}
