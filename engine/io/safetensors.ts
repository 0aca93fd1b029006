/**
 * Streaming, bounds-checked safetensors reader.
 *
 * Format: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
 * `{ "<tensor>": { "dtype": "F16", "shape": [..], "data_offsets": [begin, end] }, "__metadata__"?: {str: str} }`,
 * then the data section; offsets are relative to the data section's start and tensors are C-order little-endian.
 *
 * Only the header is read when a file is opened; each tensor's bytes are read when asked for, so a multi-GB
 * checkpoint is never held in memory. Everything the header claims is checked against the file before any tensor
 * is read, the way the reference `safetensors` library does: shape × element size equals the byte range, ranges lie
 * inside the data section, and together they cover it exactly — no overlaps, no holes, nothing past the end
 * (the format forbids holes so that a file cannot hide a second payload).
 *
 * Every dtype of the format is accepted in the header, so files carrying an integer buffer (old CLIP checkpoints
 * ship an I64 `position_ids`) open; reading a tensor converts F32, F16 and BF16 to f32 and rejects the rest with an
 * `UnsupportedDtypeError` naming the tensor.
 */
import { f16BitsToF32 } from '../quant/f16';
import { CorruptModelError, UnsupportedDtypeError } from './errors';

/** Random-access bytes: a file on disk, a `Blob`, or memory. `read` must return exactly `length` bytes. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Element types of the safetensors format with their size in bytes (sub-byte fp4/fp6 types are not listed). */
const DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

/** The dtypes `readTensor` converts to f32. */
export type ReadableDtype = 'F32' | 'F16' | 'BF16';

export function isReadableDtype(dtype: SafetensorsDtype): dtype is ReadableDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Absolute offset of the first byte in the file (header included), so callers can read ranges themselves. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsFile {
  /** The label used in error messages. */
  readonly label: string;
  /** Tensors in file order (ascending offsets). */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** `__metadata__` of the header (string to string), empty when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensor's values as f32 (F16 and BF16 converted exactly). */
  readTensor(name: string): Promise<Float32Array>;
  /** The tensor's stored bytes, unconverted. */
  readRaw(name: string): Promise<Uint8Array>;
}

/**
 * Largest header accepted. Real checkpoints have headers of tens to hundreds of KB (SD 1.5's UNet: ~90 KB);
 * 100 MB allows millions of tensors while refusing a garbage length before allocating it.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** Wraps memory or a `Blob` (a browser `File`) as a `ByteSource`; a `ByteSource` is returned as is. */
export function toByteSource(source: ArrayBuffer | Uint8Array | Blob | ByteSource): ByteSource {
  if (source instanceof ArrayBuffer) return memorySource(new Uint8Array(source));
  if (source instanceof Uint8Array) return memorySource(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return blobSource(source);
  return source as ByteSource;
}

function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

/**
 * Reads and validates the header of a safetensors file. `label` names the file in error messages
 * (defaults to the `File`'s name, else "safetensors file").
 */
export async function openSafetensors(
  source: ArrayBuffer | Uint8Array | Blob | ByteSource,
  label?: string,
): Promise<SafetensorsFile> {
  const name = label ?? (typeof File !== 'undefined' && source instanceof File ? source.name : 'safetensors file');
  const bytes = toByteSource(source);
  const read = async (offset: number, length: number): Promise<Uint8Array> => {
    const data = await bytes.read(offset, length);
    if (data.byteLength !== length) {
      throw new CorruptModelError(name, `read ${data.byteLength} of ${length} bytes at offset ${offset}; the file is shorter than it claims or changed while reading`);
    }
    return data;
  };

  if (bytes.size < 8) throw new CorruptModelError(name, `${bytes.size} bytes is too small for a safetensors header`);
  const prefix = await read(0, 8);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const headerBytes = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerBytes > MAX_HEADER_BYTES || headerBytes > bytes.size - 8) {
    throw new CorruptModelError(name, `header length ${headerBytes} does not fit a ${bytes.size}-byte file (limit ${MAX_HEADER_BYTES}); this is not a safetensors file or it is truncated`);
  }
  const dataStart = 8 + headerBytes;
  const header = parseHeaderJson(name, await read(8, headerBytes));

  const tensors = parseEntries(name, header, bytes.size - dataStart, dataStart);
  const metadata = parseMetadata(name, header['__metadata__']);

  const info = (tensor: string): TensorInfo => {
    const t = tensors.get(tensor);
    if (!t) throw new CorruptModelError(name, `it has no tensor "${tensor}"`);
    return t;
  };
  const readRaw = (tensor: string): Promise<Uint8Array> => {
    const t = info(tensor);
    return read(t.byteOffset, t.byteLength);
  };
  return {
    label: name,
    tensors,
    metadata,
    readRaw,
    async readTensor(tensor) {
      const t = info(tensor);
      const dtype = t.dtype;
      if (!isReadableDtype(dtype)) throw new UnsupportedDtypeError(name, tensor, dtype);
      return toFloat32(dtype, await read(t.byteOffset, t.byteLength));
    },
  };
}

function parseHeaderJson(file: string, raw: Uint8Array): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    throw new CorruptModelError(file, `the header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new CorruptModelError(file, 'the header is not a JSON object');
  }
  return header as Record<string, unknown>;
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptModelError(file, '__metadata__ is not an object');
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new CorruptModelError(file, `__metadata__.${key} is not a string`);
  }
  return value as Record<string, string>;
}

function parseEntries(file: string, header: Record<string, unknown>, dataBytes: number, dataStart: number): Map<string, TensorInfo> {
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bad = (detail: string) => new CorruptModelError(file, `tensor "${name}": ${detail}`);
    if (typeof value !== 'object' || value === null) throw bad('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      if (typeof dtype === 'string') throw new UnsupportedDtypeError(file, name, dtype);
      throw bad('dtype is missing');
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);
    const elements = (shape as number[]).reduce((a, d) => a * d, 1);
    const expected = elements * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (!Number.isSafeInteger(expected) || expected !== end - begin) {
      throw bad(`shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const tensors = new Map<string, TensorInfo>();
  let covered = 0;
  for (const e of entries) {
    if (e.end > dataBytes) {
      throw new CorruptModelError(file, `tensor "${e.name}" ends at byte ${e.end} of a ${dataBytes}-byte data section (truncated download?)`);
    }
    if (e.begin < covered) throw new CorruptModelError(file, `tensor "${e.name}" overlaps the tensor before it`);
    if (e.begin > covered) throw new CorruptModelError(file, `bytes ${covered}–${e.begin} of the data section belong to no tensor`);
    covered = e.end;
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, byteOffset: dataStart + e.begin, byteLength: e.end - e.begin });
  }
  if (covered !== dataBytes) {
    throw new CorruptModelError(file, `the data section has ${dataBytes} bytes but its tensors cover ${covered}`);
  }
  return tensors;
}

/**
 * `values` when every one is finite, else a CorruptModelError naming the tensor. Trained weights are never NaN or
 * infinite; such a value comes from a damaged file or a broken export, and would turn every image into NaN (black)
 * without any other sign, so the loaders check each tensor as they read it.
 */
export function checkFinite(file: string, tensor: string, values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) {
    // v − v is 0 for finite v and NaN for NaN and ±infinity: one comparison per value.
    const v = values[i]!;
    if (v - v !== 0) {
      throw new CorruptModelError(file, `tensor "${tensor}" holds ${Number.isNaN(v) ? 'NaN' : v} at index ${i}; a model's weights are always finite numbers`);
    }
  }
  return values;
}

let f16Table: Float32Array | undefined;

/** Converts little-endian F32, F16 or BF16 bytes to f32 values (exact: every F16 and BF16 value is an f32). */
export function toFloat32(dtype: ReadableDtype, raw: Uint8Array): Float32Array {
  // Typed-array views use the platform's byte order; every platform with WebGPU is little-endian.
  switch (dtype) {
    case 'F32': {
      const copy = new Uint8Array(raw.byteLength);
      copy.set(raw);
      return new Float32Array(copy.buffer);
    }
    case 'F16': {
      f16Table ??= Float32Array.from({ length: 0x10000 }, (_, h) => f16BitsToF32(h));
      const table = f16Table;
      const n = raw.byteLength >>> 1;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[raw[2 * i]! | (raw[2 * i + 1]! << 8)]!;
      return out;
    }
    case 'BF16': {
      const n = raw.byteLength >>> 1;
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = (raw[2 * i]! << 16) | (raw[2 * i + 1]! << 24);
      return new Float32Array(bits.buffer);
    }
  }
}
