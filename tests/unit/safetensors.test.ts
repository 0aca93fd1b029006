import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CorruptModelError, UnsupportedDtypeError } from '../../engine/io/errors';
import { NodeFileSource } from '../../engine/io/node-file';
import { MAX_HEADER_BYTES, openSafetensors, type ByteSource } from '../../engine/io/safetensors';
import { f16BitsToF32, f32ToF16Bits } from '../../engine/quant/f16';
import { seededRandom } from '../helpers/gpu';
import { f32File, safetensorsBytes, withHeaderText } from './helpers/safetensors-file';

const MODEL = new URL('../../../shared/fixtures/tiny-sd1/model/', import.meta.url).pathname;
const FIXTURES = [
  { path: 'text_encoder/model.safetensors', count: 52, tensor: 'embeddings.token_embedding.weight', shape: [815, 64] },
  { path: 'unet/diffusion_pytorch_model.safetensors', count: 684, tensor: 'conv_in.weight', shape: [32, 4, 3, 3] },
  { path: 'vae/diffusion_pytorch_model.safetensors', count: 244, tensor: 'decoder.conv_in.weight', shape: [32, 4, 3, 3] },
];

/** Expected f32 values of a tensor straight from the file bytes, independent of the reader. */
function valuesAt(file: Uint8Array, byteOffset: number, byteLength: number): Float32Array {
  return new Float32Array(file.slice(byteOffset, byteOffset + byteLength).buffer);
}

/** Bit-exact equality of two f32 arrays (a fast check: `toEqual` walks element by element with diffs). */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  expect(bytes(actual).equals(bytes(expected)), what).toBe(true);
}

/** A ByteSource over memory that records what was read. */
function countingSource(bytes: Uint8Array): ByteSource & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: bytes.byteLength,
    reads,
    read: async (offset, length) => {
      reads.push([offset, length]);
      return bytes.slice(offset, offset + length);
    },
  };
}

async function expectCorrupt(bytes: Uint8Array, detail: RegExp): Promise<void> {
  const error = await openSafetensors(bytes, 'bad.safetensors').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CorruptModelError);
  expect((error as Error).message).toMatch(detail);
  expect((error as Error).message).toMatch(/bad\.safetensors.*download it again/);
}

describe('safetensors: fixture files', () => {
  for (const f of FIXTURES) {
    it(`${f.path}: header parses and every tensor reads (file, memory and Blob sources agree)`, async () => {
      const bytes = new Uint8Array(await readFile(MODEL + f.path));
      const source = await NodeFileSource.open(MODEL + f.path);
      try {
        const file = await openSafetensors(source, f.path);
        expect(file.tensors.size).toBe(f.count);
        expect(file.metadata).toEqual({ format: 'pt' });
        expect(file.tensors.get(f.tensor)?.shape).toEqual(f.shape);
        const fromMemory = await openSafetensors(bytes.buffer);
        const fromBlob = await openSafetensors(new Blob([bytes]));
        let last = 0;
        for (const [name, t] of file.tensors) {
          expect(t.dtype).toBe('F32');
          expect(t.byteOffset).toBeGreaterThanOrEqual(last);
          last = t.byteOffset + t.byteLength;
          const expected = valuesAt(bytes, t.byteOffset, t.byteLength);
          expect(t.byteLength).toBe(t.shape.reduce((a, d) => a * d, 4));
          expectSameBits(await file.readTensor(name), expected, `${name} from the file`);
          expectSameBits(await fromMemory.readTensor(name), expected, `${name} from memory`);
          expectSameBits(await fromBlob.readTensor(name), expected, `${name} from a Blob`);
        }
        expect(last).toBe(bytes.byteLength);
      } finally {
        await source.close();
      }
    });
  }

  it('reads the header only when opened, and only the asked tensor after', async () => {
    const bytes = new Uint8Array(await readFile(MODEL + FIXTURES[0]!.path));
    const source = countingSource(bytes);
    const file = await openSafetensors(source);
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(source.reads).toEqual([[0, 8], [8, headerEnd - 8]]);
    const t = file.tensors.get('final_layer_norm.weight')!;
    await file.readTensor(t.name);
    expect(source.reads[2]).toEqual([t.byteOffset, t.byteLength]);
    expect(await file.readRaw(t.name)).toEqual(bytes.slice(t.byteOffset, t.byteOffset + t.byteLength));
  });
});

describe('safetensors: conversion', () => {
  it('converts every F16 value exactly', async () => {
    const bits = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    const file = await openSafetensors(
      safetensorsBytes({ h: { dtype: 'F16', shape: [256, 256], data_offsets: [0, 0x20000] } }, new Uint8Array(bits.buffer)),
    );
    const values = await file.readTensor('h');
    // Known values written out, then every other pattern checked through the round trip to f16 and back.
    const known: [number, number][] = [
      [0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504], [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14], [0x7c00, Infinity], [0xfc00, -Infinity],
    ];
    for (const [h, v] of known) expect(values[h], `0x${h.toString(16)}`).toBe(v);
    expect(Object.is(values[0x8000], -0)).toBe(true);
    for (let h = 0; h < 0x10000; h++) {
      const v = values[h]!;
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) expect(Number.isNaN(v)).toBe(true);
      else if (f32ToF16Bits(v) !== h || v !== f16BitsToF32(h)) expect.fail(`0x${h.toString(16)} read as ${v}`);
    }
  });

  it('converts BF16 exactly (the top half of an f32)', async () => {
    const rand = seededRandom(7);
    const f32 = Float32Array.from({ length: 1000 }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 20 - 10));
    f32.set([0, -0, 1, -1.5, Infinity, -Infinity, 2 ** -133], 0);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < u32.length; i++) u32[i] = u32[i]! & 0xffff0000;
    const bf16 = Uint16Array.from(u32, (b) => b >>> 16);
    const file = await openSafetensors(
      safetensorsBytes({ b: { dtype: 'BF16', shape: [10, 100], data_offsets: [0, 2000] } }, new Uint8Array(bf16.buffer)),
    );
    expectSameBits(await file.readTensor('b'), f32, 'bf16');
  });

  it('reads F32 tensors at unaligned file offsets', async () => {
    const a = Float32Array.of(1, 2, 3);
    const bytes = f32File({ a: { shape: [3], values: a } });
    // A header of odd length puts the data at an odd offset.
    const padded = withHeaderText(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}  `, bytes.subarray(bytes.length - 12));
    for (const b of [bytes, padded]) expect(await (await openSafetensors(b)).readTensor('a')).toEqual(a);
    expect((await openSafetensors(padded)).tensors.get('a')!.byteOffset % 4).not.toBe(0);
  });
});

describe('safetensors: damaged files', () => {
  const a = Float32Array.of(1, 2, 3, 4);
  const b = Float32Array.of(5, 6);
  const good = f32File({ a: { shape: [2, 2], values: a }, b: { shape: [2], values: b } });
  const data = good.subarray(good.length - 24);
  const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

  it('accepts the well-formed file these cases break', async () => {
    const file = await openSafetensors(good);
    expect(await file.readTensor('a')).toEqual(a);
    expect(await file.readTensor('b')).toEqual(b);
    expect(file.metadata).toEqual({});
  });

  it('rejects truncated files', async () => {
    await expectCorrupt(good.subarray(0, good.length - 4), /ends at byte 24 of a 20-byte data section/);
    await expectCorrupt(good.subarray(0, 30), /header length \d+ does not fit a 30-byte file/);
    await expectCorrupt(good.subarray(0, 5), /too small/);
  });

  it('rejects a header length beyond the file or the cap without reading it', async () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setUint32(0, bytes.length, true);
    await expectCorrupt(bytes, /header length/);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
    await expectCorrupt(bytes, /header length/);
    // A huge (sparse) file with a 200 MB header claim: refused after reading only the 8-byte prefix.
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setUint32(0, 2 * MAX_HEADER_BYTES, true);
    const reads: number[] = [];
    const huge: ByteSource = { size: 2 ** 40, read: async (offset, length) => (reads.push(length), prefix.slice(offset, offset + length)) };
    await expect(openSafetensors(huge)).rejects.toThrow(CorruptModelError);
    expect(reads).toEqual([8]);
  });

  it('rejects overlapping, out-of-bounds, gapped and partial data offsets', async () => {
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [4], 0, 16), b: entry('F32', [2], 12, 20) }, data), /"b" overlaps/);
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [4], 0, 16), b: entry('F32', [2], 20, 28) }, data), /"b" ends at byte 28/);
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [4], 0, 16), b: entry('F32', [1], 20, 24) }, data), /bytes 16–20 .* belong to no tensor/);
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [4], 0, 16) }, data), /24 bytes but its tensors cover 16/);
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [4], 16, 0) }, data), /end before they begin/);
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [4], -4, 12) }, data), /not a pair of non-negative integers/);
    await expectCorrupt(safetensorsBytes({ a: { dtype: 'F32', shape: [6], data_offsets: [0] } }, data), /not a pair/);
  });

  it('rejects a shape that does not match the byte range', async () => {
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [2, 3], 0, 16), b: entry('F32', [2], 16, 24) }, data), /shape \[2, 3\] of F32 needs 24 bytes but data_offsets span 16/);
    await expectCorrupt(safetensorsBytes({ a: entry('F16', [6], 0, 24) }, data), /needs 12 bytes/);
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [2, -3], 0, 24) }, data), /shape .* not a list of non-negative integers/);
    await expectCorrupt(safetensorsBytes({ a: entry('F32', [2 ** 40, 2 ** 40], 0, 24) }, data), /needs/);
  });

  it('rejects unknown dtypes at open and unconvertible ones at read, naming the tensor', async () => {
    const unknown = await openSafetensors(safetensorsBytes({ 'w.q4': entry('Q4_K', [24], 0, 24) }, data)).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(UnsupportedDtypeError);
    expect((unknown as Error).message).toMatch(/"w\.q4".*Q4_K.*F32, F16 and BF16/);
    // Old CLIP checkpoints carry an int64 position_ids buffer: the file must open and its weights read.
    const file = await openSafetensors(safetensorsBytes({ a: entry('F32', [4], 0, 16), position_ids: entry('I64', [1], 16, 24) }, data));
    expect(await file.readTensor('a')).toEqual(a);
    expect(await file.readRaw('position_ids')).toEqual(data.subarray(16, 24));
    await expect(file.readTensor('position_ids')).rejects.toThrow(/"position_ids".*I64/);
    await expect(file.readTensor('position_ids')).rejects.toBeInstanceOf(UnsupportedDtypeError);
    await expectCorrupt(safetensorsBytes({ a: { shape: [6], data_offsets: [0, 24] } }, data), /dtype is missing/);
  });

  it('rejects headers that are not a JSON object of entries', async () => {
    await expectCorrupt(withHeaderText('{"a": {"dtype": "F32", ', data), /not valid UTF-8 JSON/);
    await expectCorrupt(withHeaderText('PK\u0003\u0004 not json', data), /not valid UTF-8 JSON/);
    await expectCorrupt(withHeaderText('[1, 2]', data), /not a JSON object/);
    await expectCorrupt(withHeaderText('null', data), /not a JSON object/);
    await expectCorrupt(safetensorsBytes({ a: 5 }, data), /"a": entry is not an object/);
    await expectCorrupt(safetensorsBytes({ __metadata__: { format: 1 }, a: entry('F32', [6], 0, 24) }, data), /__metadata__\.format is not a string/);
    const invalidUtf8 = withHeaderText('{"a":1}', data);
    invalidUtf8[9] = 0xff;
    await expectCorrupt(invalidUtf8, /not valid UTF-8 JSON/);
  });

  it('reports a source that returns fewer bytes than the header promised, and unknown tensor names', async () => {
    const shrinking: ByteSource = { size: good.length, read: async (o, l) => good.slice(o, Math.min(o + l, good.length - 8)) };
    const file = await openSafetensors(shrinking, 'moved.safetensors');
    await expect(file.readTensor('b')).rejects.toThrow(/moved\.safetensors .*read 0 of 8 bytes/);
    await expect(file.readTensor('c')).rejects.toThrow(/has no tensor "c"/);
  });
});
