/**
 * The tuner's result: per adapter, a table from op shape (`shapeKey`) to the configuration that ran fastest there,
 * with the default's and the winner's times. It is plain JSON, stored by the command line in a file and by the
 * extension in IndexedDB; `TableTuning` answers the ops' lookups from it (engine/tune/shapes.ts).
 *
 * A table is only used on the adapter it was measured on (vendor, architecture, device and description all equal):
 * tiles fast on one GPU can be slow on another, and tiles too large for a smaller adapter would not even compile.
 */
import type { AdapterSummary } from '../gpu/device';
import { EngineError } from '../gpu/errors';
import type { AttentionTile } from '../ops/attention';
import type { ConvTile, ConvWeightAlgorithm } from '../ops/conv2d';
import type { GemmTile } from '../ops/gemm';
import { describeShape, shapeKey, type AttentionChoice, type AttentionShape, type ConvShape, type ConvWeightShape, type GemmShape, type OpTuning, type TunableShape } from './shapes';

export const TUNING_VERSION = 1;

export interface AdapterKey {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export type TunedConfig =
  | { op: 'gemm'; tile: GemmTile }
  | { op: 'conv'; tile: ConvTile }
  | { op: 'conv-algorithm'; algorithm: ConvWeightAlgorithm }
  | { op: 'attention'; tile: AttentionTile; budgetBytes?: number };

export interface TuningEntry {
  shape: TunableShape;
  /** What runs without tuning, and what the tuner chose (equal to it when no candidate was faster). */
  default: TunedConfig;
  chosen: TunedConfig;
  /** Median milliseconds of the default and of the chosen configuration (per call; summed over the model's calls for conv-algorithm). */
  defaultMs: number;
  ms: number;
  /** Candidates that ran and matched the reference, and those rejected for a wrong result. */
  tried: number;
  rejected: number;
}

export interface TuningTable {
  version: typeof TUNING_VERSION;
  adapter: AdapterKey;
  /** ISO date of the last tuning run that added to it. */
  updated: string;
  /** Keyed by `shapeKey(entry.shape)`. */
  entries: Record<string, TuningEntry>;
}

/** Several adapters' tables: what a cache file or store holds. */
export interface TuningCache {
  version: typeof TUNING_VERSION;
  tables: TuningTable[];
}

/** A tuning file or record that is not what this version writes. */
export class TuningFormatError extends EngineError {}

export function adapterKey(adapter: AdapterSummary | AdapterKey): AdapterKey {
  return { vendor: adapter.vendor, architecture: adapter.architecture, device: adapter.device, description: adapter.description };
}

export function sameAdapter(a: AdapterKey, b: AdapterKey): boolean {
  return a.vendor === b.vendor && a.architecture === b.architecture && a.device === b.device && a.description === b.description;
}

export function emptyTable(adapter: AdapterSummary | AdapterKey): TuningTable {
  return { version: TUNING_VERSION, adapter: adapterKey(adapter), updated: new Date().toISOString(), entries: {} };
}

export function emptyCache(): TuningCache {
  return { version: TUNING_VERSION, tables: [] };
}

/** The table for `adapter` in `cache`, if any. */
export function tableFor(cache: TuningCache, adapter: AdapterSummary | AdapterKey): TuningTable | undefined {
  const key = adapterKey(adapter);
  return cache.tables.find((t) => sameAdapter(t.adapter, key));
}

/** `cache` with `table`'s entries added to (and replacing those of) the table of the same adapter. */
export function mergeTable(cache: TuningCache, table: TuningTable): TuningCache {
  const old = tableFor(cache, table.adapter);
  const merged: TuningTable = { ...table, entries: { ...(old?.entries ?? {}), ...table.entries } };
  return { version: TUNING_VERSION, tables: [...cache.tables.filter((t) => t !== old), merged] };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

function checkTile(v: unknown, fields: readonly string[], where: string): void {
  if (!isObject(v) || !fields.every((f) => isCount(v[f]))) throw new TuningFormatError(`${where}: a tile needs positive integers ${fields.join(', ')}`);
}

function checkConfig(v: unknown, where: string): TunedConfig {
  if (!isObject(v)) throw new TuningFormatError(`${where}: not an object`);
  switch (v.op) {
    case 'gemm':
      checkTile(v.tile, ['tileM', 'tileN', 'tileK', 'vec', 'wptM', 'wptN'], where);
      break;
    case 'conv':
      checkTile(v.tile, ['tm', 'tn', 'tk', 'rm'], where);
      break;
    case 'conv-algorithm':
      if (v.algorithm !== 'direct' && v.algorithm !== 'winograd' && v.algorithm !== 'winograd4') {
        throw new TuningFormatError(`${where}: algorithm must be direct, winograd or winograd4`);
      }
      break;
    case 'attention':
      checkTile(v.tile, ['rows', 'keys', 'rowsPerThread', 'dimsPerThread', 'keySplit'], where);
      if (v.budgetBytes !== undefined && !isCount(v.budgetBytes)) throw new TuningFormatError(`${where}: budgetBytes must be a positive integer`);
      break;
    default:
      throw new TuningFormatError(`${where}: unknown op ${String(v.op)}`);
  }
  return v as unknown as TunedConfig;
}

function checkTable(v: unknown, where: string): TuningTable {
  if (!isObject(v) || v.version !== TUNING_VERSION || !isObject(v.adapter) || !isObject(v.entries) || typeof v.updated !== 'string') {
    throw new TuningFormatError(`${where}: not a version ${TUNING_VERSION} tuning table`);
  }
  for (const f of ['vendor', 'architecture', 'device', 'description']) {
    if (typeof v.adapter[f] !== 'string') throw new TuningFormatError(`${where}: adapter.${f} must be a string`);
  }
  for (const [key, e] of Object.entries(v.entries)) {
    const at = `${where}, entry ${key}`;
    if (!isObject(e) || !isObject(e.shape) || typeof e.defaultMs !== 'number' || typeof e.ms !== 'number') throw new TuningFormatError(`${at}: malformed`);
    if (shapeKey(e.shape as unknown as TunableShape) !== key) throw new TuningFormatError(`${at}: the key does not match its shape`);
    const chosen = checkConfig(e.chosen, `${at}, chosen`);
    checkConfig(e.default, `${at}, default`);
    if (chosen.op !== (e.shape as { op: string }).op) throw new TuningFormatError(`${at}: a ${chosen.op} configuration for a ${String(e.shape.op)} shape`);
  }
  return v as unknown as TuningTable;
}

/**
 * Parses a cache (from a file or a store), checking every table and entry, so a damaged or foreign file fails here
 * with a message instead of in a kernel. Throws `TuningFormatError`.
 */
export function parseTuningCache(json: string | unknown, source = 'tuning cache'): TuningCache {
  let v: unknown = json;
  if (typeof json === 'string') {
    try {
      v = JSON.parse(json);
    } catch {
      throw new TuningFormatError(`${source} is not JSON; delete it and run the tuner again`);
    }
  }
  if (!isObject(v) || v.version !== TUNING_VERSION || !Array.isArray(v.tables)) {
    throw new TuningFormatError(`${source} is not a version ${TUNING_VERSION} tuning cache; delete it and run the tuner again`);
  }
  return { version: TUNING_VERSION, tables: v.tables.map((t, i) => checkTable(t, `${source}, table ${i}`)) };
}

/** Answers the ops' lookups from a table's chosen configurations. */
export class TableTuning implements OpTuning {
  constructor(readonly table: TuningTable) {}

  private chosen<T extends TunedConfig['op']>(shape: TunableShape, op: T): Extract<TunedConfig, { op: T }> | undefined {
    const c = this.table.entries[shapeKey(shape)]?.chosen;
    return c && c.op === op ? (c as Extract<TunedConfig, { op: T }>) : undefined;
  }

  gemm(shape: GemmShape): GemmTile | undefined {
    return this.chosen(shape, 'gemm')?.tile;
  }

  conv(shape: ConvShape): ConvTile | undefined {
    return this.chosen(shape, 'conv')?.tile;
  }

  convAlgorithm(shape: ConvWeightShape): ConvWeightAlgorithm | undefined {
    return this.chosen(shape, 'conv-algorithm')?.algorithm;
  }

  attention(shape: AttentionShape): AttentionChoice | undefined {
    const c = this.chosen(shape, 'attention');
    return c && { tile: c.tile, ...(c.budgetBytes === undefined ? {} : { budgetBytes: c.budgetBytes }) };
  }
}

/** The lookup for `adapter` from a cache, or undefined when the cache has no table for it. */
export function tuningFor(cache: TuningCache | undefined, adapter: AdapterSummary | AdapterKey): TableTuning | undefined {
  const table = cache && tableFor(cache, adapter);
  return table && new TableTuning(table);
}

/** A configuration in a few words, for tables: tile sizes, the algorithm, the attention split. */
export function describeConfig(c: TunedConfig): string {
  switch (c.op) {
    case 'gemm':
      return `tile ${c.tile.tileM}×${c.tile.tileN}×${c.tile.tileK}, ${c.tile.wptM}×${c.tile.wptN} per thread`;
    case 'conv':
      return `tile ${c.tile.tm}×${c.tile.tn}×${c.tile.tk}, ${c.tile.rm} rows per thread`;
    case 'conv-algorithm':
      return c.algorithm;
    case 'attention':
      return (
        `${c.tile.rows} rows, ${c.tile.keys} keys × ${c.tile.keySplit} groups, ${c.tile.rowsPerThread}×${c.tile.dimsPerThread} per thread` +
        (c.budgetBytes ? `, chunks of ${c.budgetBytes / 2 ** 20} MiB` : '')
      );
  }
}

export interface TuningRow {
  op: TunableShape['op'];
  shape: string;
  default: string;
  chosen: string;
  defaultMs: number;
  ms: number;
}

/** A table's entries as display rows, the ones where the tuner changed something first. */
export function tuningRows(table: TuningTable): TuningRow[] {
  const rows = Object.values(table.entries).map((e) => ({
    op: e.shape.op,
    shape: describeShape(e.shape),
    default: describeConfig(e.default),
    chosen: describeConfig(e.chosen),
    defaultMs: e.defaultMs,
    ms: e.ms,
  }));
  return rows.sort((a, b) => Number(a.chosen === a.default) - Number(b.chosen === b.default) || b.defaultMs - a.defaultMs);
}
