/**
 * Import of a diffusers pipeline folder from disk (the options page's folder picker or a dropped folder): the
 * files arrive as `Blob`s with paths relative to the chosen folder, which may be the pipeline folder itself or a
 * folder above it. Component files are told apart by their folder (`unet/config.json` vs `vae/config.json`), so
 * loose files without their folders cannot be imported.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import { toByteSource } from '../engine/io/safetensors';
import { COMPONENTS, type Component, type ModelManifest, type StoreDB } from './db';
import { WEIGHT_CANDIDATES } from './catalog';
import { InvalidModelFilesError } from './errors';
import { estimateStoredBytes } from './install';
import { importModel, OPTIONAL_TEXT_FILES, REQUIRED_TEXT_FILES, type ImportFiles, type ImportOptions } from './model-store';
import { checkQuota, requestPersistence, type StorageEstimator } from './quota';

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
  const byPath = new Map(files.map((f) => [normalPath(f.path), f.blob]));
  const root = pipelineRoot([...byPath.keys()]);
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

const normalPath = (path: string) => path.replace(/\\/g, '/').replace(/^\.?\//, '');

/** The path prefix of the pipeline folder among `paths` ('' when they are its contents), by its unet/config.json. */
function pipelineRoot(paths: readonly string[]): string | undefined {
  return paths
    .filter((p) => p === 'unet/config.json' || p.endsWith('/unet/config.json'))
    .map((p) => p.slice(0, -'unet/config.json'.length))
    .sort((a, b) => a.length - b.length)[0];
}

/**
 * A store id for an imported folder: `local/<name>`, the name being the pipeline folder's own (the one holding
 * unet/config.json, whether it was chosen itself or a folder above it), or `model` when the files came without it (a
 * folder's contents dropped); characters ids do not take are replaced.
 */
export function localModelId(files: readonly LocalFile[]): string {
  const folder = (pipelineRoot(files.map((f) => normalPath(f.path))) ?? '').replace(/\/$/, '').split('/').at(-1)!;
  const slug = folder.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 80) || 'model';
  return `local/${slug}`;
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

/** How far an import from disk is: checkpoint bytes read of all components', and the checkpoint being stored. */
export interface FolderImportProgress {
  file: string;
  bytes: number;
  total: number;
}

/**
 * Imports a pipeline folder from disk as `localModelId(files)`, after the same space check and request for persistent
 * storage an install makes (`storage: null` skips both, for tests).
 */
export async function importFolder(
  db: StoreDB,
  files: readonly LocalFile[],
  options: { format: StorageFormat; signal?: AbortSignal; onProgress?: (p: FolderImportProgress) => void; storage?: StorageEstimator | null },
): Promise<ModelManifest> {
  const modelId = localModelId(files);
  const source = await localImportFiles(files);
  const sizes = new Map<Component, { path: string; size: number }>();
  let needed = 0;
  for (const component of COMPONENTS) {
    const weights = await source.weights(component);
    sizes.set(component, { path: weights.path, size: weights.source.size });
    needed += estimateStoredBytes(weights.path, weights.source.size, options.format);
  }
  if (options.storage !== null) {
    await checkQuota(needed, options.storage);
    await requestPersistence(options.storage);
  }
  const total = [...sizes.values()].reduce((sum, s) => sum + s.size, 0);
  // Components before the one in progress count whole, those stored by an earlier attempt included.
  const before = (component: Component) => COMPONENTS.slice(0, COMPONENTS.indexOf(component)).reduce((sum, c) => sum + sizes.get(c)!.size, 0);
  const { onProgress } = options;
  return importModel(db, modelId, source, {
    format: options.format,
    name: modelId.slice('local/'.length),
    source: { kind: 'local' },
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onProgress ? { onProgress: (p) => onProgress({ file: sizes.get(p.component)!.path, bytes: before(p.component) + p.bytes, total }) } : {}),
  });
}
