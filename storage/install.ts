/**
 * Installing a model from the Hugging Face hub: file metadata (with the fp16 → full-precision fallback), a storage
 * check, the text files (validated before any weights are fetched), then per component: download (resumable,
 * verified) → parse → quantise → store → delete the downloaded file. Processing one component at a time keeps the
 * peak storage at the stored model plus one raw checkpoint, and an interrupted install resumes at the component
 * and byte where it stopped.
 *
 * Two calls for the same model (in the same database) share one installation: each gets the result and the
 * progress; a caller that cancels leaves the others running, and the installation stops when every caller has
 * cancelled.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import type { CatalogEntry } from './catalog';
import { COMPONENTS, type Component, type ModelManifest, type StoreDB } from './db';
import { deleteDownload, downloadedSource, downloadFile, type DownloadProgress } from './download';
import { DownloadCancelledError, FileNotFoundError } from './errors';
import { fetchFileInfo, fetchText, resolveUrl, type FileInfo } from './hub';
import { beginModel, DEFAULT_CHUNK_BYTES, importModel, OPTIONAL_TEXT_FILES, REQUIRED_TEXT_FILES, validateTexts } from './model-store';
import { checkQuota, requestPersistence, type StorageEstimator } from './quota';
import type { RetryOptions } from './retry';

export interface InstallProgress {
  stage: 'prepare' | 'download' | 'import';
  /** The file being downloaded or imported. */
  file?: string;
  /** Weight bytes downloaded (including earlier sessions) of `total`, over all files still to install. */
  bytes: number;
  total: number;
  /** Download rate in bytes per second, smoothed. */
  rate: number;
  etaSeconds?: number;
}

export interface InstallOptions {
  format: StorageFormat;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onProgress?: (progress: InstallProgress) => void;
  /** `navigator.storage` by default; null skips the space check (tests of other things). */
  storage?: StorageEstimator | null;
  /** Hub address (tests: the local server). */
  base?: string;
  chunkBytes?: number;
  partBytes?: number;
  retry?: RetryOptions;
}

interface Job {
  promise: Promise<ModelManifest>;
  controller: AbortController;
  listeners: Set<(progress: InstallProgress) => void>;
  callers: number;
}

const jobs = new WeakMap<StoreDB, Map<string, Job>>();

/** Installs `entry` (or finishes an interrupted installation); returns the complete manifest. */
export function installFromHub(db: StoreDB, entry: CatalogEntry, options: InstallOptions): Promise<ModelManifest> {
  let running = jobs.get(db);
  if (!running) jobs.set(db, (running = new Map()));
  let job = running.get(entry.id);
  if (!job) {
    const controller = new AbortController();
    const listeners = new Set<(progress: InstallProgress) => void>();
    const promise = install(db, entry, {
      ...options,
      signal: controller.signal,
      onProgress: (progress) => listeners.forEach((listener) => listener(progress)),
    });
    const created: Job = { promise, controller, listeners, callers: 0 };
    const forget = () => {
      if (running!.get(entry.id) === created) running!.delete(entry.id);
    };
    promise.then(forget, forget);
    running.set(entry.id, created);
    job = created;
  }
  return join(job, entry, options);
}

function join(job: Job, entry: CatalogEntry, { signal, onProgress }: InstallOptions): Promise<ModelManifest> {
  return new Promise((resolve, reject) => {
    let joined = true;
    const leave = () => {
      if (!joined) return;
      joined = false;
      job.callers--;
      if (onProgress) job.listeners.delete(onProgress);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      leave();
      if (job.callers === 0) job.controller.abort();
      reject(new DownloadCancelledError(entry.repo));
    };
    job.callers++;
    if (onProgress) job.listeners.add(onProgress);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    job.promise.then(
      (manifest) => {
        leave();
        resolve(manifest);
      },
      (error: unknown) => {
        leave();
        reject(error);
      },
    );
  });
}

/** Bytes a stored component takes, from its checkpoint's size: fp16 files hold 2 bytes per value, others 4. */
export function estimateStoredBytes(path: string, fileBytes: number, format: StorageFormat): number {
  const values = fileBytes / (path.includes('.fp16.') ? 2 : 4);
  // int8: a byte per value plus an f16 scale per row; int4: half a byte plus an f16 scale per 32. Vectors stay f32
  // and embeddings f16, a few percent of a model: the margin covers them.
  const perValue = { f32: 4, f16: 2, int8: 1, int4: 0.5 + 2 / 32 }[format];
  return Math.ceil(values * perValue * 1.05);
}

async function install(db: StoreDB, entry: CatalogEntry, options: InstallOptions): Promise<ModelManifest> {
  const existing = await db.get('manifests', entry.id);
  if (existing?.status === 'complete') return existing;
  const { signal } = options;
  const hub = { fetch: options.fetch, signal, retry: options.retry };
  const base = options.base;
  const file = (path: string) => ({ repo: entry.repo, revision: entry.revision, path, ...(base ? { base } : {}) });
  const progress = (p: InstallProgress) => options.onProgress?.(p);

  // The text files first: a repository that is not an SD 1.x/2.x pipeline is refused before anything is stored.
  progress({ stage: 'prepare', bytes: 0, total: 0, rate: 0 });
  const texts: Record<string, string> = {};
  for (const path of [...REQUIRED_TEXT_FILES, ...OPTIONAL_TEXT_FILES]) {
    try {
      texts[path] = await fetchText(resolveUrl(entry.repo, entry.revision, path, base), hub);
    } catch (error) {
      if (!(error instanceof FileNotFoundError) || (REQUIRED_TEXT_FILES as readonly string[]).includes(path)) throw error;
    }
  }
  validateTexts(texts);

  // Which checkpoint each component still needs, and how big it is. An interrupted installation in another
  // format or chunk size starts its import over (its downloads are kept).
  const { format } = options;
  const resumes = existing?.format === format && existing.chunkBytes === (options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const needed: { component: Component; path: string; info: FileInfo; received: number }[] = [];
  for (const component of COMPONENTS) {
    if (resumes && existing.components[component]) continue;
    const { path, info } = await firstExisting(entry.weights[component], (path) => fetchFileInfo(file(path), hub));
    const state = await db.get('downloads', [entry.id, path]);
    const resumable = state && (state.sha256 === undefined || state.sha256 === info.sha256) && (state.size === undefined || state.size === info.size);
    needed.push({ component, path, info, received: resumable ? state.received : 0 });
  }

  // Peak storage while installing component i: the components stored before it, its own chunks, and the rest of
  // its download (what already arrived is in use already).
  let storedBefore = 0;
  let peak = 0;
  for (const n of needed) {
    const stored = estimateStoredBytes(n.path, n.info.size, format);
    peak = Math.max(peak, storedBefore + stored + n.info.size - n.received);
    storedBefore += stored;
  }
  if (options.storage !== null) {
    await checkQuota(peak, options.storage);
    await requestPersistence(options.storage);
  }

  await beginModel(db, entry.id, {
    format,
    ...(options.chunkBytes !== undefined ? { chunkBytes: options.chunkBytes } : {}),
    name: entry.name,
    source: { kind: 'hub', repo: entry.repo, revision: entry.revision },
  });

  const total = needed.reduce((sum, n) => sum + n.info.size, 0);
  let finished = 0;
  return importModel(
    db,
    entry.id,
    {
      texts,
      async weights(component) {
        const n = needed.find((x) => x.component === component);
        if (!n) throw new Error(`install: the ${component} was not planned`);
        const onProgress = (p: DownloadProgress) =>
          progress({
            stage: 'download',
            file: n.path,
            bytes: finished + p.bytes,
            total,
            rate: p.rate,
            ...(p.rate > 0 ? { etaSeconds: (total - finished - p.bytes) / p.rate } : {}),
          });
        await downloadFile(db, {
          modelId: entry.id,
          file: n.path,
          url: n.info.url,
          expectedSize: n.info.size,
          ...(n.info.sha256 ? { expectedSha256: n.info.sha256 } : {}),
          ...(options.fetch ? { fetch: options.fetch } : {}),
          ...(signal ? { signal } : {}),
          ...(options.retry ? { retry: options.retry } : {}),
          ...(options.partBytes ? { partBytes: options.partBytes } : {}),
          onProgress,
        });
        finished += n.info.size;
        return { path: n.path, source: await downloadedSource(db, entry.id, n.path) };
      },
      stored: (_component, weights) => deleteDownload(db, entry.id, weights.path),
    },
    {
      format,
      ...(options.chunkBytes !== undefined ? { chunkBytes: options.chunkBytes } : {}),
      name: entry.name,
      source: { kind: 'hub', repo: entry.repo, revision: entry.revision },
      ...(signal ? { signal } : {}),
      onProgress: (p) => progress({ stage: 'import', file: needed.find((n) => n.component === p.component)?.path, bytes: finished, total, rate: 0 }),
    },
  );
}

/** The first candidate path that exists on the hub (a 404 moves on to the next). */
async function firstExisting(candidates: readonly string[], info: (path: string) => Promise<FileInfo>): Promise<{ path: string; info: FileInfo }> {
  let missing: unknown;
  for (const path of candidates) {
    try {
      return { path, info: await info(path) };
    } catch (error) {
      if (!(error instanceof FileNotFoundError)) throw error;
      missing = error;
    }
  }
  throw missing;
}
