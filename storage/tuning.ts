/**
 * The extension's tuning cache: the auto-tuner's tables (engine/tune/table.ts), one per adapter, kept in the
 * `settings` store under one key. The offscreen document reads the table for its adapter before it loads a model
 * and adds what a tuner run finds; the options page shows it.
 */
import type { AdapterKey } from '../engine/tune/table';
import { emptyCache, mergeTable, parseTuningCache, tableFor, type TuningCache, type TuningTable } from '../engine/tune/table';
import { getSetting, setSetting, type StoreDB } from './db';

export const TUNING_SETTING = 'tuning';

/** The stored cache (empty when none); throws `TuningFormatError` when the stored value is damaged. */
export async function loadTuningCache(db: StoreDB): Promise<TuningCache> {
  const stored = await getSetting<unknown>(db, TUNING_SETTING);
  return stored === undefined ? emptyCache() : parseTuningCache(stored, 'the stored tuning table');
}

/** The stored table for `adapter`, if the tuner has run on it. */
export async function loadTuningTable(db: StoreDB, adapter: AdapterKey): Promise<TuningTable | undefined> {
  return tableFor(await loadTuningCache(db), adapter);
}

/** Adds `table`'s entries to the stored table of its adapter (replacing entries of the same shapes). */
export async function saveTuningTable(db: StoreDB, table: TuningTable): Promise<TuningCache> {
  const cache = mergeTable(await loadTuningCache(db), table);
  await setSetting(db, TUNING_SETTING, cache);
  return cache;
}

/** Forgets every adapter's table (ops run their defaults again). */
export async function clearTuning(db: StoreDB): Promise<void> {
  await setSetting(db, TUNING_SETTING, emptyCache());
}
