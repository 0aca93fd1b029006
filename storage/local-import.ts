/**
 * Import of a diffusers pipeline folder from disk (the options page's folder picker or a dropped folder): the
 * files arrive as `Blob`s with paths relative to the chosen folder, which may be the pipeline folder itself or a
 * folder above it. Component files are told apart by their folder (`unet/config.json` vs `vae/config.json`), so
 * loose files without their folders cannot be imported.
 */
import { toByteSource } from '../engine/io/safetensors';
import type { Component, ModelManifest, StoreDB } from './db';
import { WEIGHT_CANDIDATES } from './catalog';
import { InvalidModelFilesError } from './errors';
import { importModel, OPTIONAL_TEXT_FILES, REQUIRED_TEXT_FILES, type ImportFiles, type ImportOptions } from './model-store';

export interface LocalFile {
  /** Path relative to the chosen folder (`webkitRelativePath`, or the path a drop's directory entries give). */
  path: string;
  blob: Blob;
}

/**
 * The import files of the pipeline folder among `files`. A folder holding both a component's full-precision and
 * fp16 checkpoint gives the full-precision one (nothing to download, and it quantises from the exact values).
 */
export async function localImportFiles(files: readonly LocalFile[]): Promise<ImportFiles> {
  const byPath = new Map(files.map((f) => [f.path.replace(/\\/g, '/').replace(/^\.?\//, ''), f.blob]));
  const root = [...byPath.keys()]
    .filter((p) => p.endsWith('unet/config.json'))
    .map((p) => p.slice(0, -'unet/config.json'.length))
    .sort((a, b) => a.length - b.length)[0];
  if (root === undefined) {
    throw new InvalidModelFilesError('No unet/config.json among the chosen files: choose the diffusers pipeline folder itself (the one holding model_index.json, unet/, vae/, ...).');
  }
  const texts: Record<string, string> = {};
  for (const path of [...REQUIRED_TEXT_FILES, ...OPTIONAL_TEXT_FILES]) {
    const blob = byPath.get(root + path);
    if (blob) texts[path] = await blob.text();
  }
  return {
    texts,
    async weights(component: Component) {
      const path = [...WEIGHT_CANDIDATES[component]].reverse().find((p) => byPath.has(root + p));
      if (!path) throw new InvalidModelFilesError(`The folder has no ${WEIGHT_CANDIDATES[component].join(' or ')}.`);
      return { path, source: toByteSource(byPath.get(root + path)!) };
    },
  };
}

/** Imports a pipeline folder from disk into the store under `modelId`, quantised to `options.format`. */
export async function importLocalModel(
  db: StoreDB,
  modelId: string,
  files: readonly LocalFile[],
  options: ImportOptions,
): Promise<ModelManifest> {
  return importModel(db, modelId, await localImportFiles(files), { source: { kind: 'local' }, ...options });
}
