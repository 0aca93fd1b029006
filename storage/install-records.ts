/**
 * What the store remembers of each install from the hub across browser restarts, in the `settings` store under one
 * key: the model, where it comes from, its weight format, and how the install last stood — running, stopped by the
 * user, or failed with the error. An install still `running` when the document that ran it starts again was
 * interrupted (the browser closed or the document crashed) and resumes on its own; one the user stopped, or one the
 * disk could not hold, waits for the user, who sees why.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import { writeTransaction, type StoreDB } from './db';

export const INSTALL_RECORDS_KEY = 'installs';

export interface InstallRecord {
  modelId: string;
  repo: string;
  revision: string;
  format: StorageFormat;
  status: 'running' | 'cancelled' | 'failed';
  /** Why it failed: the error's class name and message. */
  error: { name: string; message: string } | null;
  updatedAt: number;
}

/**
 * Failures that resume on their own: the network gave out through every retry (`DownloadFailedError`), which a
 * browser started later may well not meet. A full disk, a damaged download, a missing or gated repository do not go
 * away by themselves.
 */
const TRANSIENT_FAILURES: readonly string[] = ['DownloadFailedError'];

/** Whether an install found in `record` state when the browser (or the store's document) starts resumes on its own. */
export function resumesOnStart(record: InstallRecord): boolean {
  if (record.status === 'running') return true;
  return record.status === 'failed' && record.error !== null && TRANSIENT_FAILURES.includes(record.error.name);
}

function isRecord(value: unknown): value is InstallRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.modelId === 'string' &&
    typeof r.repo === 'string' &&
    typeof r.revision === 'string' &&
    typeof r.format === 'string' &&
    (r.status === 'running' || r.status === 'cancelled' || r.status === 'failed') &&
    (r.status === 'failed') === (typeof r.error === 'object' && r.error !== null) &&
    typeof r.updatedAt === 'number'
  );
}

/** The install records, oldest first; entries an older version wrote in another shape are left out. */
export async function loadInstallRecords(db: StoreDB): Promise<InstallRecord[]> {
  const stored = await db.get('settings', INSTALL_RECORDS_KEY);
  const all = typeof stored === 'object' && stored !== null ? Object.values(stored) : [];
  return all.filter(isRecord).sort((a, b) => a.updatedAt - b.updatedAt);
}

/** Sets (or with `null`, removes) the record of `modelId`, in one transaction so two installs never lose a write. */
export async function setInstallRecord(db: StoreDB, modelId: string, record: Omit<InstallRecord, 'modelId' | 'updatedAt'> | null): Promise<void> {
  await writeTransaction(db, ['settings'], async (tx) => {
    const store = tx.objectStore('settings');
    const stored = await store.get(INSTALL_RECORDS_KEY);
    const records = { ...(typeof stored === 'object' && stored !== null ? (stored as Record<string, InstallRecord>) : {}) };
    if (record) records[modelId] = { ...record, modelId, updatedAt: Date.now() };
    else delete records[modelId];
    await store.put(records, INSTALL_RECORDS_KEY);
  });
}
