/**
 * The command line's tuning cache: one JSON file (engine/tune/table.ts's `TuningCache`, one table per adapter),
 * by default `$XDG_CACHE_HOME/local-diffusion/tuning.json` (`~/.cache/…` without XDG_CACHE_HOME). `npm run tune`
 * writes it; `npm run generate` and `npm run bench` read it (`--tuning PATH` picks another file, `--tuning off`
 * none).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AdapterSummary } from '../engine/gpu/device';
import { emptyCache, parseTuningCache, tableFor, type TuningCache, type TuningTable } from '../engine/tune/table';

export function defaultTuningPath(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'local-diffusion', 'tuning.json');
}

/** The cache in `path`, or an empty one when the file does not exist. Throws `TuningFormatError` for a damaged file. */
export async function readTuningCache(path: string): Promise<TuningCache> {
  if (!existsSync(path)) return emptyCache();
  return parseTuningCache(await readFile(path, 'utf8'), path);
}

/** Writes the whole cache; through a temporary file, so an interrupted write leaves the old file whole. */
export async function writeTuningCache(path: string, cache: TuningCache): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(cache, null, 1)}\n`);
  await rename(temporary, path);
}

/**
 * The table for `adapter` from a `--tuning` option value: undefined for 'off', or when the file (default path when
 * `option` is undefined) has none for this adapter.
 */
export async function tuningTableFor(option: string | undefined, adapter: AdapterSummary): Promise<{ table?: TuningTable; path?: string }> {
  if (option === 'off') return {};
  const path = option ?? defaultTuningPath();
  if (option !== undefined && !existsSync(path)) throw new Error(`--tuning ${path}: no such file (run npm run tune -- --out ${path} first).`);
  const table = tableFor(await readTuningCache(path), adapter);
  return table ? { table, path } : { path };
}
