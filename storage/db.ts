/**
 * The extension's IndexedDB database (through `idb`): schema, version and the small stores' accessors.
 *
 * | store       | key                          | value                                                            |
 * | ----------- | ---------------------------- | ---------------------------------------------------------------- |
 * | `manifests` | model id                     | `ModelManifest`: source, format, text files, tensor index, status |
 * | `chunks`    | [model id, index]            | `ChunkRecord`: 16–64 MiB of packed weights and their sha256       |
 * | `downloads` | [model id, file path]        | `DownloadRecord`: a resumable download's state                    |
 * | `parts`     | [model id, file path, index] | `PartRecord`: ≤ 8 MiB of a file's raw bytes, in order            |
 * | `settings`  | setting name                 | any structured-clonable value                                     |
 * | `gallery`   | auto-increment number        | `GalleryRecord`: a generated image with its parameters           |
 *
 * Array keys keep a model's records together, so one key range reaches all of them (deleting a model is a range
 * delete per store, in one transaction). A manifest says `complete` only when every chunk it indexes is stored:
 * the importer writes that status in the same transaction as the last chunk.
 *
 * Version history: 1 — the stores above. A later version adds an `upgrade` step for `oldVersion` 1.
 */
import { wrap, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import type { StorageFormat } from '../engine/gpu/tensor';
import type { ReadableDtype } from '../engine/io/safetensors';
import { asStorageError } from './quota';

export const DB_VERSION = 1;
export const DEFAULT_DB_NAME = 'sd-webgpu';

/** The weight-carrying folders of a diffusers Stable Diffusion pipeline. */
export type Component = 'text_encoder' | 'unet' | 'vae';
export const COMPONENTS: readonly Component[] = ['text_encoder', 'unet', 'vae'];

export type ModelSource = { kind: 'hub'; repo: string; revision: string } | { kind: 'local' };

/**
 * One checkpoint tensor, stored under its checkpoint name as a packed matrix [rows, cols] (rows = shape[0], cols =
 * the product of the other dimensions) in `format` (`engine/quant/pack.ts`). Its bytes start at byte `offset` of
 * chunk `chunk` and run on into the following chunks of the same model; the scales (int8, int4) likewise.
 */
export interface TensorRecord {
  name: string;
  /** Element type in the checkpoint the tensor came from. */
  dtype: ReadableDtype;
  shape: number[];
  format: StorageFormat;
  rows: number;
  cols: number;
  chunk: number;
  offset: number;
  byteLength: number;
  scalesChunk: number;
  scalesOffset: number;
  /** 0 for f32 and f16. */
  scalesLength: number;
}

export interface ComponentRecord {
  /** The checkpoint it was imported from, e.g. `unet/diffusion_pytorch_model.fp16.safetensors`. */
  file: string;
  /** Size of that checkpoint in bytes. */
  sourceBytes: number;
  /** Its chunks are `firstChunk … firstChunk + chunkCount − 1`; a component starts a fresh chunk. */
  firstChunk: number;
  chunkCount: number;
  /** Bytes of packed values and scales. */
  bytes: number;
  /** In checkpoint file order. */
  tensors: TensorRecord[];
  /** Tensors not stored because their dtype is not a float type (e.g. CLIP's I64 `position_ids` buffer). */
  skipped: string[];
}

/** `incomplete` while files are being downloaded or packed into chunks; `complete` once every chunk is stored. */
export type ModelStatus = 'incomplete' | 'complete';

export interface ModelManifest {
  id: string;
  name: string;
  source: ModelSource;
  format: StorageFormat;
  /** Target size of the chunk records. */
  chunkBytes: number;
  /** The small files of the pipeline folder by path: model_index.json, configs, tokenizer files. */
  texts: Record<string, string>;
  /** Components stored so far (all three once complete). */
  components: Partial<Record<Component, ComponentRecord>>;
  /** Index of the next chunk to write. */
  nextChunk: number;
  /** Bytes of all chunks written, kept in step with them (each chunk write updates it in the same transaction). */
  storedBytes: number;
  createdAt: number;
  completedAt?: number;
  status: ModelStatus;
}

export interface ChunkRecord {
  modelId: string;
  index: number;
  bytes: ArrayBuffer;
  /** Lower-case hex sha256 of `bytes`. */
  sha256: string;
}

export interface DownloadRecord {
  modelId: string;
  /** The file's path in the model folder, e.g. `unet/diffusion_pytorch_model.fp16.safetensors`. */
  file: string;
  url: string;
  /** Size the hub publishes (or the server announced), when known. */
  size?: number;
  /** sha256 the hub publishes (lower-case hex), when known. */
  sha256?: string;
  /** Bytes stored in `parts`; a resumed download asks for `Range: bytes=<received>-`. */
  received: number;
  /** Number of part records (indices 0 … parts − 1, in file order). */
  parts: number;
  /** Byte length of each part (a part written when a connection broke is shorter than the others). */
  partSizes: number[];
  /** The whole file is stored and matched its size and hash. */
  complete: boolean;
  updatedAt: number;
}

export interface PartRecord {
  modelId: string;
  file: string;
  index: number;
  bytes: ArrayBuffer;
}

export interface GalleryRecord {
  id?: number;
  createdAt: number;
  modelId?: string;
  /** Generation parameters (prompt, seed, steps, ...). */
  params: Record<string, unknown>;
  png: Blob | ArrayBuffer;
  thumbnail?: Blob | ArrayBuffer;
}

export interface StoreSchema extends DBSchema {
  manifests: { key: string; value: ModelManifest };
  chunks: { key: [string, number]; value: ChunkRecord };
  downloads: { key: [string, string]; value: DownloadRecord };
  parts: { key: [string, string, number]; value: PartRecord };
  settings: { key: string; value: unknown };
  gallery: { key: number; value: GalleryRecord; indexes: { createdAt: number } };
}

export type StoreDB = IDBPDatabase<StoreSchema>;

/**
 * Opens (creating or upgrading) the database `name` of `factory`: `indexedDB` in the browser, a fake-indexeddb
 * `IDBFactory` in tests. A connection closes itself when another context opens a newer version, so upgrades are
 * never blocked by an idle tab.
 */
export async function openStore(factory: IDBFactory = indexedDB, name = DEFAULT_DB_NAME): Promise<StoreDB> {
  const request = factory.open(name, DB_VERSION);
  request.addEventListener('upgradeneeded', (event) => {
    upgrade(wrap(request.result) as unknown as StoreDB, event.oldVersion);
  });
  const db = (await wrap(request)) as unknown as StoreDB;
  db.addEventListener('versionchange', () => db.close());
  return db;
}

function upgrade(db: StoreDB, oldVersion: number): void {
  if (oldVersion < 1) {
    db.createObjectStore('manifests', { keyPath: 'id' });
    db.createObjectStore('chunks', { keyPath: ['modelId', 'index'] });
    db.createObjectStore('downloads', { keyPath: ['modelId', 'file'] });
    db.createObjectStore('parts', { keyPath: ['modelId', 'file', 'index'] });
    db.createObjectStore('settings');
    const gallery = db.createObjectStore('gallery', { keyPath: 'id', autoIncrement: true });
    gallery.createIndex('createdAt', 'createdAt');
  }
}

/**
 * Runs `body` in a read-write transaction over `stores` and waits until it commits. A failure anywhere aborts the
 * transaction, so none of its writes land; IndexedDB's quota error comes out as `InsufficientStorageError`.
 */
export async function writeTransaction<Names extends StoreNames<StoreSchema>[]>(
  db: StoreDB,
  stores: Names,
  body: (tx: IDBPTransaction<StoreSchema, Names, 'readwrite'>) => Promise<void>,
): Promise<void> {
  const tx = db.transaction(stores, 'readwrite');
  // Observed here so an abort below does not surface as an unhandled rejection; awaited after the body.
  const done = tx.done.then(
    () => undefined,
    (error: unknown) => error ?? new Error('transaction aborted'),
  );
  try {
    await body(tx);
  } catch (error) {
    try {
      tx.abort();
    } catch {
      // The transaction already finished (it failed on its own); its error is the one to report.
    }
    await done;
    throw asStorageError(error);
  }
  const failure = await done;
  if (failure) throw asStorageError(failure);
}

/**
 * Every key that starts with `prefix` (array keys compare element by element, and an array sorts after every
 * number and string, so `[...prefix, []]` is above all of them).
 */
export function keysStartingWith(prefix: readonly (string | number)[]): IDBKeyRange {
  return IDBKeyRange.bound([...prefix], [...prefix, []]);
}

export async function getSetting<T>(db: StoreDB, key: string): Promise<T | undefined> {
  return (await db.get('settings', key)) as T | undefined;
}

export async function setSetting(db: StoreDB, key: string, value: unknown): Promise<void> {
  await db.put('settings', value, key);
}

/** Stores a generated image; returns its id. */
export async function addToGallery(db: StoreDB, record: Omit<GalleryRecord, 'id'>): Promise<number> {
  return db.add('gallery', record as GalleryRecord);
}

/** Gallery records, newest first, at most `limit`. */
export async function listGallery(db: StoreDB, limit = Infinity): Promise<GalleryRecord[]> {
  const out: GalleryRecord[] = [];
  let cursor = await db.transaction('gallery').store.index('createdAt').openCursor(null, 'prev');
  while (cursor && out.length < limit) {
    out.push(cursor.value);
    cursor = await cursor.continue();
  }
  return out;
}

export async function deleteFromGallery(db: StoreDB, id: number): Promise<void> {
  await db.delete('gallery', id);
}
