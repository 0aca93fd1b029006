/**
 * Resumable, verified downloads into IndexedDB.
 *
 * The response body is streamed into `parts` records of at most 8 MiB (never the whole file in memory). Each part
 * is written in the same transaction as the `downloads` record that counts it, so after a crash, a closed laptop or
 * a browser restart the stored byte count is exact and the next call asks for `Range: bytes=<count>-`. A server
 * that ignores the range (200 instead of 206) or answers another range makes the download start over.
 *
 * Network errors and transient statuses (408, 429, 5xx) are retried with exponential back-off; the count of
 * failures resets whenever an attempt brought new bytes, so a long download over a flaky line goes on as long as it
 * progresses. Bytes that arrived before a failure or a cancellation are stored, not thrown away.
 *
 * Verification: the size must equal what the hub publishes (a response announcing another size is refused before
 * its body is read; a body that runs past the size is cut off), and the sha256 of the whole file must equal the
 * published one. The hash is computed over exactly the bytes written to the parts, in file order, as they arrive
 * (a resumed call first re-hashes the stored prefix from the parts), so the file is not read twice. On any
 * mismatch the parts are deleted before the error is raised: nothing corrupt stays in the store.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { ByteSource } from '../engine/io/safetensors';
import { keysStartingWith, writeTransaction, type DownloadRecord, type PartRecord, type StoreDB } from './db';
import { CorruptDownloadError, DownloadCancelledError, DownloadFailedError, DownloadHashError, DownloadSizeError, ModelIncompleteError } from './errors';
import { toHex } from './hash';
import { backoffDelay, checkStatus, isRetryable, sleep, type RetryOptions } from './retry';

/** Largest part record. */
export const PART_BYTES = 8 << 20;

export interface DownloadProgress {
  file: string;
  /** Bytes stored so far, including those of earlier sessions. */
  bytes: number;
  total?: number;
  /** Bytes per second, smoothed over a few seconds. */
  rate: number;
  /** Seconds left at the current rate, when the total is known and the rate is not zero. */
  etaSeconds?: number;
}

export interface DownloadOptions {
  modelId: string;
  /** The file's path in the model folder; with `modelId` it keys the download's state. */
  file: string;
  url: string;
  expectedSize?: number;
  /** Lower-case hex. */
  expectedSha256?: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  retry?: RetryOptions;
  /** Largest part record (default 8 MiB). */
  partBytes?: number;
  /** Clock in milliseconds for the rate (tests). */
  now?: () => number;
}

type HashState = ReturnType<typeof sha256.create>;

/**
 * Downloads `url` into the parts of (`modelId`, `file`), resuming what an earlier call stored, and returns the
 * completed, verified download record. A download already complete returns at once.
 */
export async function downloadFile(db: StoreDB, options: DownloadOptions): Promise<DownloadRecord> {
  const { modelId, file, url, signal } = options;
  const doFetch = options.fetch ?? fetch;
  const partBytes = options.partBytes ?? PART_BYTES;
  const retry = options.retry ?? {};
  const attempts = retry.attempts ?? 6;
  const wait = retry.sleep ?? sleep;
  const now = options.now ?? (() => performance.now());

  let state = await db.get('downloads', [modelId, file]);
  if (state && !sameFile(state, options)) {
    await deleteDownload(db, modelId, file);
    state = undefined;
  }
  if (state?.complete) return state;
  state ??= { modelId, file, url, received: 0, parts: 0, partSizes: [], complete: false, updatedAt: Date.now() };
  if (options.expectedSize !== undefined) state.size = options.expectedSize;
  if (options.expectedSha256 !== undefined) state.sha256 = options.expectedSha256;
  state.url = url;

  let hasher = await hashStoredPrefix(db, state);
  if (!hasher) {
    state = await restart(db, state);
    hasher = sha256.create();
  }
  const meter = new RateMeter(now);
  const report = (bytes: number, force = false) => {
    if (!options.onProgress || !meter.due(force)) return;
    const total = state!.size;
    const rate = meter.rate;
    const eta = total !== undefined && rate > 0 ? (total - bytes) / rate : undefined;
    options.onProgress({ file, bytes, ...(total !== undefined ? { total } : {}), rate, ...(eta !== undefined ? { etaSeconds: eta } : {}) });
  };

  /** Stores `bytes` as the next part, together with the state that counts it. */
  const writePart = async (bytes: Uint8Array) => {
    const current = state!;
    const part: PartRecord = { modelId, file, index: current.parts, bytes: bytes.slice().buffer };
    const next: DownloadRecord = {
      ...current,
      received: current.received + bytes.byteLength,
      parts: current.parts + 1,
      partSizes: [...current.partSizes, bytes.byteLength],
      updatedAt: Date.now(),
    };
    await writeTransaction(db, ['parts', 'downloads'], async (tx) => {
      await tx.objectStore('parts').put(part);
      await tx.objectStore('downloads').put(next);
    });
    state = next;
  };

  /** Fails the download for good: the parts go, then the error is raised. */
  const reject = async (error: CorruptDownloadError): Promise<never> => {
    await deleteDownload(db, modelId, file);
    throw error;
  };

  /** One request; resolves when its body ended (the file may still be short: the caller checks). */
  const attempt = async (): Promise<void> => {
    const from = state!.received;
    const response = await doFetch(url, { headers: from > 0 ? { Range: `bytes=${from}-` } : {}, signal });
    if (response.status === 416 && from > 0) {
      await response.body?.cancel();
      return reject(new DownloadSizeError(url, state!.size ?? from, from));
    }
    if (!response.ok) await response.body?.cancel();
    checkStatus(response, url);

    let total: number | undefined;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get('Content-Range'));
      if (!range || range.start !== from) {
        // Not the bytes asked for: start over rather than splice two different ranges together.
        await response.body?.cancel();
        state = await restart(db, state!);
        hasher = sha256.create();
        throw new RangeMismatchError();
      }
      total = range.total;
    } else {
      if (from > 0) {
        // The server ignored the range and sends the whole file: keep it instead of the stored prefix.
        state = await restart(db, state!);
        hasher = sha256.create();
      }
      const length = response.headers.get('Content-Length');
      if (length !== null && response.headers.get('Content-Encoding') === null) total = Number(length);
    }
    if (total !== undefined) {
      if (state!.size === undefined) state!.size = total;
      else if (total !== state!.size) {
        await response.body?.cancel();
        return reject(new DownloadSizeError(url, state!.size, total));
      }
    }
    if (!response.body) throw new TypeError('the response has no body');

    const reader = response.body.getReader();
    const buffer = new Uint8Array(partBytes);
    let filled = 0;
    const flush = async () => {
      if (filled === 0) return;
      await writePart(buffer.subarray(0, filled));
      filled = 0;
    };
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const size = state!.size;
        const arrived = state!.received + filled + value.byteLength;
        if (size !== undefined && arrived > size) {
          await reader.cancel();
          return reject(new DownloadSizeError(url, size, arrived));
        }
        hasher!.update(value);
        for (let used = 0; used < value.byteLength; ) {
          const n = Math.min(partBytes - filled, value.byteLength - used);
          buffer.set(value.subarray(used, used + n), filled);
          filled += n;
          used += n;
          if (filled === partBytes) await flush();
        }
        meter.add(value.byteLength);
        report(state!.received + filled);
      }
    } catch (error) {
      // The connection broke or the user cancelled: keep what arrived, the file's next bytes (the hash covers them).
      if (signal?.aborted || isRetryable(error)) await flush();
      throw error;
    }
    await flush();
  };

  for (let failures = 0; ; ) {
    if (signal?.aborted) throw new DownloadCancelledError(url);
    const before = state.received;
    try {
      await attempt();
      break;
    } catch (error) {
      if (signal?.aborted) throw new DownloadCancelledError(url);
      if (!isRetryable(error, signal) && !(error instanceof RangeMismatchError)) throw error;
      failures = state.received > before ? 1 : failures + 1;
      if (failures >= attempts) throw new DownloadFailedError(url, failures, error);
      try {
        await wait(backoffDelay(failures, retry, error), signal);
      } catch {
        throw new DownloadCancelledError(url);
      }
    }
  }

  const final = state;
  if (final.size !== undefined && final.received !== final.size) return reject(new DownloadSizeError(url, final.size, final.received));
  const digest = toHex(hasher.digest());
  if (final.sha256 !== undefined && digest !== final.sha256) return reject(new DownloadHashError(url, final.sha256, digest));
  const completed: DownloadRecord = { ...final, size: final.received, sha256: digest, complete: true, updatedAt: Date.now() };
  await db.put('downloads', completed);
  report(completed.received, true);
  return completed;
}

/** The server answered a range other than the one asked for; the download restarted from byte 0. */
class RangeMismatchError extends Error {
  constructor() {
    super('the server answered another byte range than the one asked for');
  }
}

/** Whether stored state belongs to the file now asked for (the hub's hash or size changed: a new revision). */
function sameFile(state: DownloadRecord, options: DownloadOptions): boolean {
  if (options.expectedSha256 !== undefined && state.sha256 !== undefined && state.sha256 !== options.expectedSha256) return false;
  if (options.expectedSize !== undefined && state.size !== undefined && state.size !== options.expectedSize) return false;
  return true;
}

/** Deletes the stored parts and resets the state to zero bytes (keeping the expected size and hash). */
async function restart(db: StoreDB, state: DownloadRecord): Promise<DownloadRecord> {
  const fresh: DownloadRecord = { ...state, received: 0, parts: 0, partSizes: [], complete: false, updatedAt: Date.now() };
  await writeTransaction(db, ['parts', 'downloads'], async (tx) => {
    await tx.objectStore('parts').delete(keysStartingWith([state.modelId, state.file]));
    await tx.objectStore('downloads').put(fresh);
  });
  return fresh;
}

/** A hash over the parts already stored, or undefined when they do not add up to the recorded count. */
async function hashStoredPrefix(db: StoreDB, state: DownloadRecord): Promise<HashState | undefined> {
  const hasher = sha256.create();
  let bytes = 0;
  for (let i = 0; i < state.parts; i++) {
    const part = await db.get('parts', [state.modelId, state.file, i]);
    if (!part || part.bytes.byteLength !== state.partSizes[i]) return undefined;
    hasher.update(new Uint8Array(part.bytes));
    bytes += part.bytes.byteLength;
  }
  return bytes === state.received ? hasher : undefined;
}

/** Deletes a download's state and parts (complete or not). */
export async function deleteDownload(db: StoreDB, modelId: string, file: string): Promise<void> {
  await writeTransaction(db, ['parts', 'downloads'], async (tx) => {
    await tx.objectStore('parts').delete(keysStartingWith([modelId, file]));
    await tx.objectStore('downloads').delete([modelId, file]);
  });
}

/**
 * A completed download as a `ByteSource` for the safetensors reader. Reads go through the parts, one part held in
 * memory at a time (the importer reads tensors in file order, so each part is loaded about once).
 */
export async function downloadedSource(db: StoreDB, modelId: string, file: string): Promise<ByteSource> {
  const state = await db.get('downloads', [modelId, file]);
  if (!state?.complete) throw new ModelIncompleteError(modelId, `${file} is not downloaded completely`);
  const starts = [0];
  for (const size of state.partSizes) starts.push(starts[starts.length - 1]! + size);
  let cached: { index: number; bytes: Uint8Array } | undefined;
  const part = async (index: number): Promise<Uint8Array> => {
    if (cached?.index !== index) {
      const record = await db.get('parts', [modelId, file, index]);
      if (!record || record.bytes.byteLength !== state.partSizes[index]) {
        throw new CorruptDownloadError(state.url, `stored part ${index} is missing or has the wrong size`);
      }
      cached = { index, bytes: new Uint8Array(record.bytes) };
    }
    return cached.bytes;
  };
  return {
    size: state.received,
    async read(offset, length) {
      const end = Math.min(offset + length, state.received);
      const out = new Uint8Array(Math.max(0, end - offset));
      let index = partAt(starts, offset);
      for (let pos = offset; pos < end; index++) {
        const bytes = await part(index);
        const from = pos - starts[index]!;
        const n = Math.min(bytes.byteLength - from, end - pos);
        out.set(bytes.subarray(from, from + n), pos - offset);
        pos += n;
      }
      return out;
    },
  };
}

/** Index of the part holding byte `offset` (binary search over the parts' start offsets). */
function partAt(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function parseContentRange(value: string | null): { start: number; end: number; total?: number } | undefined {
  const match = value?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), ...(match[3] !== '*' ? { total: Number(match[3]) } : {}) };
}

/** Transfer rate smoothed exponentially over about `tau` ms; progress reports at most every `interval` ms. */
class RateMeter {
  rate = 0;
  private pending = 0;
  private last: number;
  private lastReport = -Infinity;

  constructor(
    private readonly now: () => number,
    private readonly tau = 3000,
    private readonly interval = 100,
  ) {
    this.last = now();
  }

  add(bytes: number): void {
    this.pending += bytes;
    const t = this.now();
    const dt = t - this.last;
    if (dt < this.interval) return;
    const instant = (this.pending * 1000) / dt;
    this.rate = this.rate === 0 ? instant : this.rate + (1 - Math.exp(-dt / this.tau)) * (instant - this.rate);
    this.pending = 0;
    this.last = t;
  }

  due(force: boolean): boolean {
    const t = this.now();
    if (!force && t - this.lastReport < this.interval) return false;
    this.lastReport = t;
    return true;
  }
}
