/**
 * Shared pieces of the storage tests: a fresh fake IndexedDB per test, the tiny SD 1.x fixture folder, and the
 * values a stored model must give back for a checkpoint (computed here from the safetensors reader and the packing
 * functions, independently of the store).
 */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { StorageFormat } from '../../engine/gpu/tensor';
import { openSafetensors } from '../../engine/io/safetensors';
import { dequantize, packWeight } from '../../engine/quant/pack';
import { openStore, type StoreDB } from '../../storage/db';
import type { LocalFile } from '../../storage/local-import';
import type { StoredParams } from '../../storage/model-store';

export const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/fixtures/tiny-sd1/model', import.meta.url));
export const REPO = 'test/tiny-sd1';

export async function freshDb(factory = new IDBFactory(), name = 'storage-test'): Promise<{ db: StoreDB; factory: IDBFactory }> {
  return { db: await openStore(factory, name), factory };
}

/** The fixture folder as the options page would hand it over (paths below the chosen folder). */
export async function fixtureFiles(): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else out.push({ path: `tiny-sd1/${relative(FIXTURE_DIR, full)}`, blob: new Blob([await readFile(full)]) });
    }
  };
  await walk(FIXTURE_DIR);
  return out;
}

/** The precision the engine's loader gives each kind of tensor, written out independently of the store's code. */
export function expectedFormat(name: string, shape: readonly number[], format: StorageFormat): StorageFormat {
  if (shape.length === 1) return 'f32';
  if (name === 'embeddings.position_embedding.weight') return 'f32';
  if (name === 'embeddings.token_embedding.weight') return format === 'f32' ? 'f32' : 'f16';
  return format;
}

/**
 * Checks that every tensor of `checkpoint` reads back from `params` with the checkpoint's name and shape and the
 * values of packing it to its format and unpacking (f32: the values themselves, bit for bit). Returns the bytes
 * of values compared.
 */
export async function expectSameTensors(params: StoredParams, checkpoint: Uint8Array, format: StorageFormat): Promise<number> {
  const file = await openSafetensors(checkpoint);
  expect([...params.names()]).toEqual([...file.tensors.keys()]);
  let bytes = 0;
  for (const info of file.tensors.values()) {
    expect(params.shape(info.name)).toEqual(info.shape);
    const values = await file.readTensor(info.name);
    const rows = info.shape[0]!;
    const cols = values.length / rows;
    const fmt = expectedFormat(info.name, info.shape, format);
    expect(params.record(info.name)?.format, info.name).toBe(fmt);
    const expected = fmt === 'f32' ? values : dequantize(packWeight(values, rows, cols, fmt));
    const actual = await params.read(info.name);
    const mismatch = firstMismatch(actual, expected);
    expect(mismatch, `${info.name} (${fmt}) differs at element ${mismatch}`).toBe(-1);
    bytes += values.byteLength;
  }
  return bytes;
}

/** Index of the first element whose bits differ (so -0 ≠ 0 and NaN = NaN), or -1. */
function firstMismatch(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

/** A back-off sleep that returns at once and records the delays asked for. */
export function recordingSleep(): { delays: number[]; sleep: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

export const mb = (bytes: number, ms: number) => ((bytes / 1e6) / (ms / 1000)).toFixed(1);
