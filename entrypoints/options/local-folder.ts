/**
 * Importing a model folder from disk on the options page. `Blob`s cannot travel through `runtime.sendMessage`, so
 * the page imports straight into the extension's database (same origin as the offscreen document) with
 * storage/local-import.ts, after the same space check an install makes.
 */
import type { StorageFormat } from '../../engine/gpu/tensor';
import { COMPONENTS, type ModelManifest } from '../../storage/db';
import { estimateStoredBytes } from '../../storage/install';
import { localImportFiles, localModelId, type LocalFile } from '../../storage/local-import';
import { importModel, type ImportProgress } from '../../storage/model-store';
import { checkQuota, requestPersistence } from '../../storage/quota';
import { pageStore } from '../../lib/use-preferences';

/** The files of an `<input type=file webkitdirectory>`, with their paths inside the chosen folder. */
export function pickedFiles(list: FileList): LocalFile[] {
  return [...list].map((file) => ({ path: file.webkitRelativePath || file.name, blob: file }));
}

/**
 * The files of a drop, folders walked recursively. The entries are taken while the drop event is being handled
 * (the browser empties `items` afterwards); reading them goes on after.
 */
export function droppedFiles(data: DataTransfer): Promise<LocalFile[]> {
  const entries = [...data.items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const out: LocalFile[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ path: prefix + entry.name, blob: file });
      return;
    }
    if (!entry.isDirectory) return;
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries gives a directory's entries in batches, an empty one at the end.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
    }
  };
  return (async () => {
    for (const entry of entries) await walk(entry, '');
    return out;
  })();
}

export async function importFolder(
  files: readonly LocalFile[],
  options: { format: StorageFormat; signal?: AbortSignal; onProgress?: (p: ImportProgress) => void },
): Promise<ModelManifest> {
  const db = await pageStore();
  const modelId = localModelId(files);
  const source = await localImportFiles(files);
  let needed = 0;
  for (const component of COMPONENTS) {
    const weights = await source.weights(component);
    needed += estimateStoredBytes(weights.path, weights.source.size, options.format);
  }
  await checkQuota(needed);
  await requestPersistence();
  return importModel(db, modelId, source, {
    format: options.format,
    name: modelId.slice('local/'.length),
    source: { kind: 'local' },
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
