/**
 * Tuning caches survive a round trip: the command line's JSON file and the extension's IndexedDB settings store
 * (fake-indexeddb) give back exactly the tables written, per adapter, merged entry by entry; damaged data fails
 * with `TuningFormatError` instead of reaching a kernel. No GPU.
 */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTuningCache, writeTuningCache } from '../../cli/tuning-file';
import { shapeKey, type GemmShape } from '../../engine/tune/shapes';
import { emptyCache, emptyTable, mergeTable, parseTuningCache, tuningFor, TuningFormatError, type TuningTable } from '../../engine/tune/table';
import { openStore, setSetting } from '../../storage/db';
import { loadTuningCache, loadTuningTable, saveTuningTable, TUNING_SETTING } from '../../storage/tuning';

const ADAPTER = { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader driver 5.0.0' };
const OTHER = { ...ADAPTER, vendor: 'nvidia', architecture: 'hopper', description: 'H200' };
const SHAPE: GemmShape = { op: 'gemm', b: 'f16', batch: 1, m: 4096, k: 320, n: 320 };
const DEFAULT = { tileM: 64, tileN: 64, tileK: 16, vec: 4 as const, wptM: 4, wptN: 4 };

function table(adapter = ADAPTER, shape: GemmShape = SHAPE, tileM = 32): TuningTable {
  const t = emptyTable(adapter);
  t.entries[shapeKey(shape)] = {
    shape,
    default: { op: 'gemm', tile: DEFAULT },
    chosen: { op: 'gemm', tile: { ...DEFAULT, tileM, wptM: 2 } },
    defaultMs: 12.5,
    ms: 7.25,
    tried: 9,
    rejected: 1,
  };
  return t;
}

describe('tuning cache', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('round-trips through the JSON file, one table per adapter, and the lookup answers from it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tuning-'));
    dirs.push(dir);
    const path = join(dir, 'sub', 'tuning.json');
    expect(await readTuningCache(path)).toEqual(emptyCache());
    const cache = mergeTable(mergeTable(emptyCache(), table()), table(OTHER, SHAPE, 16));
    await writeTuningCache(path, cache);
    const back = await readTuningCache(path);
    expect(back).toEqual(cache);
    expect(tuningFor(back, ADAPTER)!.gemm(SHAPE)).toEqual({ ...DEFAULT, tileM: 32, wptM: 2 });
    expect(tuningFor(back, OTHER)!.gemm(SHAPE)!.tileM).toBe(16);
    expect(tuningFor(back, ADAPTER)!.gemm({ ...SHAPE, m: 1024 })).toBeUndefined();
    expect(tuningFor(back, { ...ADAPTER, description: 'another driver' })).toBeUndefined();
  });

  it('rejects damaged files with a message', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tuning-'));
    dirs.push(dir);
    const path = join(dir, 'tuning.json');
    await writeFile(path, '{"version": 1, "tab');
    await expect(readTuningCache(path)).rejects.toThrow(TuningFormatError);
    const bad = table();
    bad.entries[shapeKey(SHAPE)]!.chosen = { op: 'gemm', tile: { ...DEFAULT, tileK: 0 } };
    expect(() => parseTuningCache({ version: 1, tables: [bad] })).toThrow(/positive integers/);
    const moved = table();
    moved.entries['gemm:f16:1x1x1x1'] = moved.entries[shapeKey(SHAPE)]!;
    expect(() => parseTuningCache({ version: 1, tables: [moved] })).toThrow(/does not match its shape/);
  });

  it('round-trips through IndexedDB, merging entries into the adapter table', async () => {
    const db = await openStore(new IDBFactory(), 'tuning-test');
    expect(await loadTuningTable(db, ADAPTER)).toBeUndefined();
    await saveTuningTable(db, table());
    const second: GemmShape = { ...SHAPE, n: 1280 };
    await saveTuningTable(db, table(ADAPTER, second, 16));
    await saveTuningTable(db, table(OTHER));
    const stored = await loadTuningTable(db, ADAPTER);
    expect(Object.keys(stored!.entries).sort()).toEqual([shapeKey(SHAPE), shapeKey(second)].sort());
    expect(stored!.entries[shapeKey(second)]!.chosen).toEqual({ op: 'gemm', tile: { ...DEFAULT, tileM: 16, wptM: 2 } });
    expect((await loadTuningCache(db)).tables).toHaveLength(2);
    await setSetting(db, TUNING_SETTING, { version: 99 });
    await expect(loadTuningCache(db)).rejects.toThrow(TuningFormatError);
    db.close();
  });
});
