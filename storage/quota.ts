/**
 * Storage space: a check before a download (`navigator.storage.estimate()` against the bytes needed), the request
 * for persistent storage (so the browser does not evict gigabytes of weights under pressure), and the mapping of
 * IndexedDB's `QuotaExceededError` to the store's `InsufficientStorageError`.
 */
import { InsufficientStorageError } from './errors';

/** The part of `navigator.storage` this module uses (tests pass their own). */
export interface StorageEstimator {
  estimate(): Promise<{ usage?: number; quota?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

/**
 * Headroom kept free beyond what a download needs (5 % of it, at most 64 MiB): IndexedDB stores records with some
 * overhead, and a profile filled to the last byte breaks other sites' storage.
 */
export const QUOTA_MARGIN_BYTES = 64 << 20;

export function withMargin(bytes: number): number {
  return bytes + Math.min(QUOTA_MARGIN_BYTES, Math.ceil(bytes * 0.05));
}

function defaultEstimator(): StorageEstimator | undefined {
  // Older browsers and Node have no StorageManager: the check is skipped there.
  return typeof navigator !== 'undefined' && typeof navigator.storage?.estimate === 'function' ? navigator.storage : undefined;
}

/** Bytes free for this origin, or undefined when the browser does not tell. */
export async function freeBytes(storage: StorageEstimator | undefined = defaultEstimator()): Promise<number | undefined> {
  if (!storage) return undefined;
  const { usage, quota } = await storage.estimate();
  return quota === undefined ? undefined : quota - (usage ?? 0);
}

/** Throws `InsufficientStorageError` when `bytes` (plus a margin) do not fit; passes when the browser cannot tell. */
export async function checkQuota(bytes: number, storage: StorageEstimator | undefined = defaultEstimator()): Promise<void> {
  const free = await freeBytes(storage);
  if (free !== undefined && withMargin(bytes) > free) throw new InsufficientStorageError(withMargin(bytes), free);
}

/**
 * Asks the browser to keep this origin's data under storage pressure. Returns whether storage is persistent; false
 * when the browser declines or has no such API (downloads go on either way).
 */
export async function requestPersistence(storage: StorageEstimator | undefined = defaultEstimator()): Promise<boolean> {
  if (!storage?.persist) return false;
  if (await storage.persisted?.()) return true;
  return storage.persist();
}

export function isQuotaError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'QuotaExceededError';
}

/** IndexedDB's quota error becomes `InsufficientStorageError`; any other error is returned unchanged. */
export function asStorageError(error: unknown): unknown {
  return isQuotaError(error) ? new InsufficientStorageError(undefined, undefined, error) : error;
}
