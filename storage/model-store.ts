/**
 * Models in IndexedDB: import (parse → quantise → store in chunks), listing, deletion, and loading back as the
 * engine's `ModelFiles`.
 *
 * Import reads a component's safetensors checkpoint tensor by tensor in file order, converts each to f32, packs it
 * (`engine/quant/pack.ts`) and appends the packed values and scales to a stream of chunk records of `chunkBytes`
 * (default 32 MiB; a tensor may run on into the next chunk). Every tensor is stored under its checkpoint name as a
 * matrix [rows = shape[0], cols = the product of the other dimensions]: the layouts the engine derives (conv weights
 * as [Cout, 9·Cin], Winograd transforms, joined q/k/v) are made when it loads, from these. Precision follows the
 * engine's loader (`engine/models/params.ts`): vectors (biases, norm parameters) and position embeddings stay f32,
 * token embeddings take at least f16, every other matrix the chosen format.
 *
 * Crash safety: the manifest says `incomplete` until the transaction that writes the last chunk also writes it as
 * `complete`. A component starts a fresh chunk and its tensor index is written with its last chunk, so an import
 * that stopped (crash, cancel, full disk) resumes after the last stored component; the chunks of the component it
 * was in are dropped.
 *
 * Loading verifies each chunk's sha256 the first time it is read. The engine asks for tensors in module order,
 * which is not file order (attentions and resnets of a block interleave), so a few verified chunks stay cached
 * (default 4). Replaying the engine's read order of the test fixture's UNet over 52 chunks (as many as SD 1.5's
 * fp16 UNet makes at 32 MiB) took 274 chunk reads with one cached chunk, 68 with four.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import { checkFinite, isReadableDtype, openSafetensors, toFloat32, type ByteSource } from '../engine/io/safetensors';
import { parseClipTextConfig, parseModelIndex, parseSchedulerConfig, parseUNetConfig, parseVaeConfig } from '../engine/models/config';
import type { ParamSource } from '../engine/models/params';
import type { ModelFiles } from '../engine/pipeline';
import { dequantize, packWeight, rowWords, type PackedWeight } from '../engine/quant/pack';
import {
  COMPONENTS,
  keysStartingWith,
  writeTransaction,
  type Component,
  type ComponentRecord,
  type ModelManifest,
  type ModelSource,
  type StoreDB,
  type TensorRecord,
} from './db';
import { CorruptChunkError, InvalidModelFilesError, ModelExistsError, ModelIncompleteError, ModelNotFoundError, StorageError } from './errors';
import { sha256Hex } from './hash';

export const DEFAULT_CHUNK_BYTES = 32 << 20;

/** Text files the engine needs from a pipeline folder (`StableDiffusion.open`), and those it reads when present. */
export const REQUIRED_TEXT_FILES = [
  'scheduler/scheduler_config.json',
  'text_encoder/config.json',
  'tokenizer/merges.txt',
  'tokenizer/vocab.json',
  'unet/config.json',
  'vae/config.json',
] as const;
export const OPTIONAL_TEXT_FILES = ['model_index.json', 'tokenizer/special_tokens_map.json', 'tokenizer/tokenizer_config.json'] as const;

export interface WeightFile {
  /** Path of the checkpoint in the model folder, e.g. `unet/diffusion_pytorch_model.fp16.safetensors`. */
  path: string;
  source: ByteSource;
}

export interface ImportFiles {
  /** The folder's small text files by path (`REQUIRED_TEXT_FILES`, and the optional ones it has). */
  texts: Readonly<Record<string, string>>;
  /** A component's checkpoint, asked for when the import reaches it (components already stored are not). */
  weights(component: Component): Promise<WeightFile>;
  /** Called after a component's chunks and index are committed (an install deletes the downloaded file here). */
  stored?(component: Component, file: WeightFile): Promise<void>;
}

export interface ImportProgress {
  component: Component;
  /** Checkpoint bytes processed in this component, of `total`. */
  bytes: number;
  total: number;
}

export interface ImportOptions {
  format: StorageFormat;
  /** Size of the chunk records (default 32 MiB; a multiple of 4). */
  chunkBytes?: number;
  /** Display name (default: the model id). */
  name?: string;
  source?: ModelSource;
  signal?: AbortSignal;
  onProgress?: (progress: ImportProgress) => void;
}

/** The import was cancelled; the components stored so far are kept and a later import resumes after them. */
export class ImportCancelledError extends StorageError {
  constructor(readonly modelId: string) {
    super(`The import of ${modelId} was cancelled. Start it again to resume.`);
  }
}

/** The format a checkpoint tensor is stored in, following the engine loader's precision policy. */
export function storageFormatFor(name: string, shape: readonly number[], format: StorageFormat): StorageFormat {
  if (shape.length < 2 || name.endsWith('position_embedding.weight')) return 'f32';
  if (name.endsWith('token_embedding.weight')) return format === 'f32' ? 'f32' : 'f16';
  return format;
}

/**
 * Checks that `texts` make a Stable Diffusion pipeline the engine runs (configs parse, architecture supported),
 * before any weights are stored.
 */
export function validateTexts(texts: Readonly<Record<string, string>>): void {
  const missing = REQUIRED_TEXT_FILES.filter((path) => texts[path] === undefined);
  if (missing.length > 0) {
    throw new InvalidModelFilesError(
      `The model folder lacks ${missing.join(', ')}: it is not a diffusers Stable Diffusion pipeline (choose the folder that holds model_index.json).`,
    );
  }
  parseSchedulerConfig(texts['scheduler/scheduler_config.json']!);
  parseClipTextConfig(texts['text_encoder/config.json']!);
  parseUNetConfig(texts['unet/config.json']!);
  parseVaeConfig(texts['vae/config.json']!);
  if (texts['model_index.json'] !== undefined) parseModelIndex(texts['model_index.json']);
}

/** Writes a manifest for a model whose files are still being fetched, so it is listed (and deletable) meanwhile. */
export async function beginModel(
  db: StoreDB,
  modelId: string,
  options: { format: StorageFormat; chunkBytes?: number; name?: string; source: ModelSource },
): Promise<ModelManifest> {
  const existing = await db.get('manifests', modelId);
  if (existing?.status === 'complete') throw new ModelExistsError(modelId);
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (existing && existing.format === options.format && existing.chunkBytes === chunkBytes) return existing;
  const manifest: ModelManifest = {
    id: modelId,
    name: options.name ?? modelId,
    source: options.source,
    format: options.format,
    chunkBytes,
    texts: {},
    components: {},
    nextChunk: 0,
    storedBytes: 0,
    createdAt: Date.now(),
    status: 'incomplete',
  };
  await writeTransaction(db, ['manifests', 'chunks'], async (tx) => {
    await tx.objectStore('chunks').delete(keysStartingWith([modelId]));
    await tx.objectStore('manifests').put(manifest);
  });
  return manifest;
}

/**
 * Imports a model: validates the text files, then packs each component's checkpoint into chunks. Resumes an
 * incomplete import of the same format and chunk size; a complete model with this id raises `ModelExistsError`.
 */
export async function importModel(db: StoreDB, modelId: string, files: ImportFiles, options: ImportOptions): Promise<ModelManifest> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % 4 !== 0) {
    throw new RangeError(`chunkBytes must be a positive multiple of 4, not ${chunkBytes}`);
  }
  validateTexts(files.texts);
  const started = await beginModel(db, modelId, { format: options.format, chunkBytes, source: options.source ?? { kind: 'local' }, ...(options.name ? { name: options.name } : {}) });

  // Drop the chunks of a component that was being written when the last import stopped.
  const done = Object.values(started.components);
  let manifest: ModelManifest = {
    ...started,
    ...(options.name ? { name: options.name } : {}),
    texts: { ...files.texts },
    nextChunk: done.reduce((end, c) => Math.max(end, c.firstChunk + c.chunkCount), 0),
    storedBytes: done.reduce((sum, c) => sum + c.bytes, 0),
  };
  await writeTransaction(db, ['manifests', 'chunks'], async (tx) => {
    await tx.objectStore('chunks').delete(IDBKeyRange.bound([modelId, manifest.nextChunk], [modelId, []]));
    await tx.objectStore('manifests').put(manifest);
  });

  for (const component of COMPONENTS) {
    if (manifest.components[component]) continue;
    if (options.signal?.aborted) throw new ImportCancelledError(modelId);
    const file = await files.weights(component);
    const last = COMPONENTS.every((c) => c === component || manifest.components[c]);
    manifest = await importComponent(db, manifest, component, file, last, options);
    await files.stored?.(component, file);
  }
  return manifest;
}

async function importComponent(
  db: StoreDB,
  manifest: ModelManifest,
  component: Component,
  file: WeightFile,
  last: boolean,
  options: ImportOptions,
): Promise<ModelManifest> {
  const checkpoint = await openSafetensors(file.source, file.path);
  const writer = new ChunkWriter(db, manifest);
  const tensors: TensorRecord[] = [];
  const skipped: string[] = [];
  let bytes = 0;
  for (const info of checkpoint.tensors.values()) {
    if (options.signal?.aborted) throw new ImportCancelledError(manifest.id);
    bytes += info.byteLength;
    if (!isReadableDtype(info.dtype)) {
      skipped.push(info.name);
      continue;
    }
    // Checked here, once: a NaN stored would pass every chunk checksum later.
    const values = checkFinite(file.path, info.name, await checkpoint.readTensor(info.name));
    const format = storageFormatFor(info.name, info.shape, options.format);
    const rows = info.shape.length === 0 ? 1 : info.shape[0]!;
    const cols = info.shape.slice(1).reduce((a, b) => a * b, 1);
    const packed = packWeight(values, rows, cols, format);
    const data = await writer.append(asBytes(packed.data));
    const scales = await writer.append(packed.scales ? asBytes(packed.scales) : new Uint8Array(0));
    tensors.push({
      name: info.name,
      dtype: info.dtype,
      shape: [...info.shape],
      format,
      rows,
      cols,
      chunk: data.chunk,
      offset: data.offset,
      byteLength: packed.data.byteLength,
      scalesChunk: scales.chunk,
      scalesOffset: scales.offset,
      scalesLength: packed.scales?.byteLength ?? 0,
    });
    options.onProgress?.({ component, bytes, total: file.source.size });
  }
  const record: ComponentRecord = {
    file: file.path,
    sourceBytes: file.source.size,
    firstChunk: manifest.nextChunk,
    chunkCount: 0,
    bytes: 0,
    tensors,
    skipped,
  };
  return writer.finish((written) => ({
    ...written,
    components: { ...written.components, [component]: { ...record, chunkCount: written.nextChunk - record.firstChunk, bytes: written.storedBytes - manifest.storedBytes } },
    ...(last ? { status: 'complete' as const, completedAt: Date.now() } : {}),
  }));
}

/**
 * `dequantize` for f16, through the safetensors reader's table conversion (several times faster than the
 * element-wise contract, with the same values): rows are contiguous halves, padded to whole words when K is odd.
 */
function unpackF16(packed: PackedWeight): Float32Array {
  const [n, k] = packed.shape;
  const bytes = new Uint8Array(packed.data.buffer, packed.data.byteOffset, packed.data.byteLength);
  if (k % 2 === 0) return toFloat32('F16', bytes.subarray(0, n * k * 2));
  const out = new Float32Array(n * k);
  const rowBytes = rowWords('f16', k) * 4;
  for (let r = 0; r < n; r++) out.set(toFloat32('F16', bytes.subarray(r * rowBytes, r * rowBytes + 2 * k)), r * k);
  return out;
}

function asBytes(data: Float32Array | Uint32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Appends bytes to a model's chunk stream. Each full chunk is written with the manifest's updated chunk count and
 * byte total in one transaction; `finish` writes the last, partial chunk with the final manifest.
 */
class ChunkWriter {
  private buffer: Uint8Array;
  private filled = 0;

  constructor(
    private readonly db: StoreDB,
    private manifest: ModelManifest,
  ) {
    this.buffer = new Uint8Array(manifest.chunkBytes);
  }

  /** Copies `bytes` in; returns where they start. */
  async append(bytes: Uint8Array): Promise<{ chunk: number; offset: number }> {
    const start = { chunk: this.manifest.nextChunk, offset: this.filled };
    for (let used = 0; used < bytes.byteLength; ) {
      const n = Math.min(this.buffer.byteLength - this.filled, bytes.byteLength - used);
      this.buffer.set(bytes.subarray(used, used + n), this.filled);
      this.filled += n;
      used += n;
      if (this.filled === this.buffer.byteLength) await this.flush((m) => m);
    }
    return start;
  }

  /** Writes the buffered bytes (if any) and `update(manifest)` in one transaction; returns the written manifest. */
  async finish(update: (written: ModelManifest) => ModelManifest): Promise<ModelManifest> {
    await this.flush(update);
    return this.manifest;
  }

  private async flush(update: (written: ModelManifest) => ModelManifest): Promise<void> {
    const bytes = this.buffer.subarray(0, this.filled);
    const chunk = bytes.byteLength > 0 ? { modelId: this.manifest.id, index: this.manifest.nextChunk, bytes: bytes.slice().buffer, sha256: await sha256Hex(bytes) } : undefined;
    const next = update(chunk ? { ...this.manifest, nextChunk: chunk.index + 1, storedBytes: this.manifest.storedBytes + bytes.byteLength } : this.manifest);
    await writeTransaction(this.db, ['manifests', 'chunks'], async (tx) => {
      if (chunk) await tx.objectStore('chunks').put(chunk);
      await tx.objectStore('manifests').put(next);
    });
    this.manifest = next;
    this.filled = 0;
    if (chunk) this.buffer = new Uint8Array(this.manifest.chunkBytes);
  }
}

/** Deletes a model: manifest, chunks, download state and downloaded parts. */
export async function deleteModel(db: StoreDB, modelId: string): Promise<void> {
  await writeTransaction(db, ['manifests', 'chunks', 'downloads', 'parts'], async (tx) => {
    await tx.objectStore('manifests').delete(modelId);
    await tx.objectStore('chunks').delete(keysStartingWith([modelId]));
    await tx.objectStore('downloads').delete(keysStartingWith([modelId]));
    await tx.objectStore('parts').delete(keysStartingWith([modelId]));
  });
}

export interface ModelSummary {
  id: string;
  name: string;
  source: ModelSource;
  format: StorageFormat;
  status: ModelManifest['status'];
  /** Bytes of stored weight chunks. */
  storedBytes: number;
  createdAt: number;
}

/** Stored models (complete or not), oldest first. */
export async function listModels(db: StoreDB): Promise<ModelSummary[]> {
  const manifests = await db.getAll('manifests');
  return manifests
    .map(({ id, name, source, format, status, storedBytes, createdAt }) => ({ id, name, source, format, status, storedBytes, createdAt }))
    .sort((a, b) => a.createdAt - b.createdAt);
}

/** Bytes the store holds: weight chunks, the models' text files, and downloaded parts not yet imported. */
export async function storageUsed(db: StoreDB): Promise<number> {
  const encoder = new TextEncoder();
  let total = 0;
  for (const m of await db.getAll('manifests')) {
    total += m.storedBytes;
    for (const text of Object.values(m.texts)) total += encoder.encode(text).byteLength;
  }
  for (const d of await db.getAll('downloads')) total += d.received;
  return total;
}

/** A stored component's tensors: the engine's `ParamSource`, plus the packed records for a loader that uploads them as they are. */
export interface StoredParams extends ParamSource {
  /** The tensor as stored: a packed [rows, cols] matrix and its scales. */
  readPacked(name: string): Promise<PackedWeight>;
  record(name: string): TensorRecord | undefined;
}

export interface LoadStats {
  /** Chunk records read from IndexedDB. */
  chunkReads: number;
  /** Bytes of those records. */
  bytesRead: number;
}

/**
 * Opens a complete stored model as the engine's `ModelFiles`. While a component loads, its `cacheChunks` most
 * recently used chunks stay in memory (the rest of the model does not), so a load reads each chunk about once
 * whatever order the engine asks for tensors in.
 */
export async function openStoredModel(db: StoreDB, modelId: string, options: { cacheChunks?: number } = {}): Promise<StoredModel> {
  const manifest = await db.get('manifests', modelId);
  if (!manifest) throw new ModelNotFoundError(modelId);
  if (manifest.status !== 'complete') throw new ModelIncompleteError(modelId, manifest.status);
  return new StoredModel(db, manifest, options.cacheChunks ?? 4);
}

export class StoredModel implements ModelFiles {
  readonly stats: LoadStats = { chunkReads: 0, bytesRead: 0 };
  /** Chunks whose hash matched once; a reload (memory mode 'low' loads stages again) does not hash them again. */
  private readonly verified = new Set<number>();

  constructor(
    private readonly db: StoreDB,
    readonly manifest: ModelManifest,
    private readonly cacheChunks: number,
  ) {}

  async text(path: string): Promise<string | undefined> {
    return this.manifest.texts[path];
  }

  /**
   * The component's tensors. Each call has its own chunk cache, which goes with the returned object: the engine
   * asks once per stage load and drops it afterwards, so no chunk outlives the load.
   */
  async weights(component: Component): Promise<StoredParams> {
    const stored = this.manifest.components[component];
    if (!stored) throw new ModelIncompleteError(this.manifest.id, `no ${component} weights`);
    const records = new Map(stored.tensors.map((t) => [t.name, t]));
    const names = stored.tensors.map((t) => t.name);
    const reader = new ChunkReader(this.db, this.manifest.id, this.cacheChunks, this.verified, this.stats);
    const readPacked = (name: string) => {
      const record = records.get(name);
      if (!record) throw new RangeError(`The ${component} of ${this.manifest.id} has no tensor "${name}"`);
      return reader.readPacked(record);
    };
    return {
      shape: (name) => records.get(name)?.shape,
      names: () => names,
      record: (name) => records.get(name),
      readPacked,
      read: async (name) => {
        const packed = await readPacked(name);
        if (packed.format === 'f32') return packed.data as Float32Array;
        return packed.format === 'f16' ? unpackF16(packed) : dequantize(packed);
      },
    };
  }
}

/** Reads tensors out of a model's chunks, keeping the `capacity` most recently used chunks in memory. */
class ChunkReader {
  /** Most recently used last. */
  private readonly cache: { index: number; bytes: Uint8Array }[] = [];
  /** Reads run one after another, so concurrent requests (joined q/k/v) share the cache instead of racing it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: StoreDB,
    private readonly modelId: string,
    private readonly capacity: number,
    private readonly verified: Set<number>,
    private readonly stats: LoadStats,
  ) {}

  readPacked(t: TensorRecord): Promise<PackedWeight> {
    const result = this.queue.then(async () => {
      const data = await this.readBytes(t.chunk, t.offset, t.byteLength);
      const packed: PackedWeight = {
        format: t.format,
        shape: [t.rows, t.cols],
        data: t.format === 'f32' ? new Float32Array(data.buffer) : new Uint32Array(data.buffer),
      };
      if (t.scalesLength > 0) packed.scales = new Uint32Array((await this.readBytes(t.scalesChunk, t.scalesOffset, t.scalesLength)).buffer);
      return packed;
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** `length` bytes from `offset` of chunk `chunk` on, into a fresh buffer. */
  private async readBytes(chunk: number, offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let done = 0, index = chunk, from = offset; done < length; index++, from = 0) {
      const bytes = await this.chunk(index);
      const n = Math.min(bytes.byteLength - from, length - done);
      if (n <= 0) throw new CorruptChunkError(this.modelId, `chunk ${index} is shorter than its index says`);
      out.set(bytes.subarray(from, from + n), done);
      done += n;
    }
    return out;
  }

  private async chunk(index: number): Promise<Uint8Array> {
    const at = this.cache.findIndex((c) => c.index === index);
    if (at >= 0) {
      const [hit] = this.cache.splice(at, 1);
      this.cache.push(hit!);
      return hit!.bytes;
    }
    const record = await this.db.get('chunks', [this.modelId, index]);
    if (!record) throw new CorruptChunkError(this.modelId, `chunk ${index} is missing`);
    const bytes = new Uint8Array(record.bytes);
    this.stats.chunkReads++;
    this.stats.bytesRead += bytes.byteLength;
    if (!this.verified.has(index)) {
      if ((await sha256Hex(bytes)) !== record.sha256) throw new CorruptChunkError(this.modelId, `chunk ${index} fails its checksum`);
      this.verified.add(index);
    }
    this.cache.push({ index, bytes });
    if (this.cache.length > this.capacity) this.cache.shift();
    return bytes;
  }
}
