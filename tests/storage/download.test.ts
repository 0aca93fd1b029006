/**
 * Resumable downloads against the local hub server: a clean download, a cut connection (resumed with a Range
 * request for exactly the missing bytes), server errors (retried with back-off), a server that ignores Range,
 * wrong lengths and flipped bytes (rejected, nothing kept), cancellation and a resume from a new connection to the
 * database (a browser restart), and IndexedDB's quota error (paused, parts kept).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { deleteDownload, downloadedSource, downloadFile, type DownloadProgress } from '../../storage/download';
import {
  DownloadCancelledError,
  DownloadFailedError,
  DownloadHashError,
  DownloadSizeError,
  FileNotFoundError,
  InsufficientStorageError,
} from '../../storage/errors';
import { fetchFileInfo } from '../../storage/hub';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { FIXTURE_DIR, freshDb, mb, recordingSleep, REPO } from './fixture';

const UNET = 'unet/diffusion_pytorch_model.safetensors';
const PART = 1 << 20;

let hub: HubServer;
beforeAll(async () => {
  hub = await startHubServer({ [REPO]: FIXTURE_DIR });
});
afterAll(() => hub.close());
afterEach(() => {
  hub.log.length = 0;
  vi.restoreAllMocks();
});

const cdnRequests = () => hub.log.filter((r) => r.path.startsWith('/cdn/') && r.path.endsWith(UNET));

async function unetInfo() {
  return fetchFileInfo({ repo: REPO, revision: 'main', path: UNET, base: hub.base });
}

async function storedBytes(db: Awaited<ReturnType<typeof freshDb>>['db']): Promise<Uint8Array> {
  const source = await downloadedSource(db, 'm', UNET);
  return source.read(0, source.size);
}

describe('downloadFile', () => {
  it('downloads a file into parts, verified against the published size and sha256', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    const expected = hub.file(REPO, UNET);
    expect(info.size).toBe(expected.byteLength);
    expect(info.sha256).toBe(hub.sha256(REPO, UNET));

    const reports: DownloadProgress[] = [];
    const started = performance.now();
    const record = await downloadFile(db, {
      modelId: 'm',
      file: UNET,
      url: info.url,
      expectedSize: info.size,
      expectedSha256: info.sha256!,
      partBytes: PART,
      onProgress: (p) => reports.push(p),
    });
    const ms = performance.now() - started;
    console.log(`download (Node fetch + fake-indexeddb, ${(info.size / 1e6).toFixed(1)} MB from localhost): ${mb(info.size, ms)} MB/s`);

    expect(record).toMatchObject({ complete: true, received: info.size, sha256: info.sha256, parts: Math.ceil(info.size / PART) });
    expect(record.partSizes.every((s) => s <= PART)).toBe(true);
    expect(Buffer.from(await storedBytes(db)).equals(expected)).toBe(true);
    expect(reports.at(-1)).toMatchObject({ bytes: info.size, total: info.size });
    expect(reports.map((r) => r.bytes)).toEqual([...reports.map((r) => r.bytes)].sort((a, b) => a - b));
    // One request for the file, no Range: nothing fetched twice.
    expect(cdnRequests().map((r) => r.range)).toEqual([undefined]);

    // A second call finds it complete and sends nothing.
    await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256! });
    expect(cdnRequests()).toHaveLength(1);
  });

  it('resumes after a cut connection with a Range request for exactly the missing bytes', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    const cut = 3_000_000;
    hub.fault(/^\/cdn\/.*unet/, { kind: 'cut', afterBytes: cut });
    const { delays, sleep } = recordingSleep();
    const record = await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART, retry: { sleep } });

    expect(record.complete).toBe(true);
    const requests = cdnRequests();
    expect(requests.map((r) => [r.range, r.status])).toEqual([
      [undefined, 200],
      [`bytes=${cut}-`, 206],
    ]);
    expect(requests.reduce((sum, r) => sum + r.bytes, 0)).toBe(info.size);
    expect(delays).toEqual([1000]);
    // The part written when the connection broke is shorter; the bytes still line up.
    expect(record.partSizes.reduce((a, b) => a + b, 0)).toBe(info.size);
    expect(Buffer.from(await storedBytes(db)).equals(hub.file(REPO, UNET))).toBe(true);
  });

  it('retries HTTP 500 and 429 with exponential back-off, then succeeds', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    hub.fault(/^\/cdn\/.*unet/, { kind: 'status', status: 500 }, 2);
    hub.fault(/^\/cdn\/.*unet/, { kind: 'status', status: 429 });
    const { delays, sleep } = recordingSleep();
    const record = await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, retry: { sleep } });
    expect(record.complete).toBe(true);
    expect(cdnRequests().map((r) => r.status)).toEqual([500, 500, 429, 200]);
    expect(delays).toEqual([1000, 2000, 4000]);
  });

  it('gives up after the configured attempts without progress, keeping nothing it did not receive', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    hub.fault(/^\/cdn\/.*unet/, { kind: 'status', status: 503 }, 3);
    const { sleep } = recordingSleep();
    await expect(downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, retry: { sleep, attempts: 3 } })).rejects.toBeInstanceOf(DownloadFailedError);
    expect(await db.get('downloads', ['m', UNET])).toBeUndefined();
  });

  it('starts over when the server ignores the Range header', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    hub.fault(/^\/cdn\/.*unet/, { kind: 'cut', afterBytes: 2_000_000 });
    hub.fault(/^\/cdn\/.*unet/, { kind: 'ignore-range' });
    const { sleep } = recordingSleep();
    const record = await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART, retry: { sleep } });
    expect(cdnRequests().map((r) => [r.range, r.status])).toEqual([
      [undefined, 200],
      ['bytes=2000000-', 200],
    ]);
    expect(record.received).toBe(info.size);
    expect(Buffer.from(await storedBytes(db)).equals(hub.file(REPO, UNET))).toBe(true);
  });

  it.each([
    ['announced by Content-Length', { kind: 'extra', bytes: 100, announce: true }],
    ['sent past the end (chunked)', { kind: 'extra', bytes: 100, announce: false }],
    ['fewer bytes, ending cleanly', { kind: 'short', bytes: 100 }],
  ] as const)('rejects a wrong length (%s) and keeps nothing', async (_label, fault) => {
    const { db } = await freshDb();
    const info = await unetInfo();
    hub.fault(/^\/cdn\/.*unet/, fault);
    const error = await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadSizeError);
    expect((error as Error).message).toContain(`expected ${info.size} bytes`);
    expect(await db.get('downloads', ['m', UNET])).toBeUndefined();
    expect(await db.count('parts')).toBe(0);
  });

  it('rejects flipped bytes by their sha256, deletes the parts, and a new download succeeds', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    hub.fault(/^\/cdn\/.*unet/, { kind: 'flip', at: 5_000_000 });
    const error = await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadHashError);
    expect((error as DownloadHashError).expected).toBe(info.sha256);
    expect(await db.get('downloads', ['m', UNET])).toBeUndefined();
    expect(await db.count('parts')).toBe(0);

    const record = await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART });
    expect(record.sha256).toBe(info.sha256);
  });

  it('cancels (keeping the parts) and resumes from a new database connection', async () => {
    const { db, factory } = await freshDb();
    const info = await unetInfo();
    const controller = new AbortController();
    const options = { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART };
    let clock = 0;
    const error = await downloadFile(db, {
      ...options,
      signal: controller.signal,
      // Every chunk is a second apart, so each one is reported (reports are at most every 100 ms).
      now: () => (clock += 1000),
      onProgress: (p) => {
        if (p.bytes >= 2 * PART) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadCancelledError);
    const kept = (await db.get('downloads', ['m', UNET]))!;
    expect(kept.received).toBeGreaterThanOrEqual(2 * PART);
    expect(kept.received).toBeLessThan(info.size);
    db.close();

    // A browser restart: a new connection, no memory of the first call.
    const { db: reopened } = await freshDb(factory);
    const record = await downloadFile(reopened, options);
    expect(record.complete).toBe(true);
    expect(cdnRequests().at(-1)!.range).toBe(`bytes=${kept.received}-`);
    expect(Buffer.from(await storedBytes(reopened)).equals(hub.file(REPO, UNET))).toBe(true);
  });

  it('turns IndexedDB quota errors into InsufficientStorageError, keeps the parts, and resumes later', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    const put = IDBObjectStore.prototype.put;
    let parts = 0;
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
      if (this.name === 'parts' && ++parts === 4) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    });
    const options = { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART };
    const error = await downloadFile(db, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientStorageError);
    expect((error as Error).message).toMatch(/Not enough storage.*resumes where it stopped/);
    const kept = (await db.get('downloads', ['m', UNET]))!;
    expect(kept.received).toBe(3 * PART);
    expect(await db.count('parts')).toBe(3);

    vi.restoreAllMocks();
    const record = await downloadFile(db, options);
    expect(record.complete).toBe(true);
    expect(cdnRequests().at(-1)!.range).toBe(`bytes=${3 * PART}-`);
  });

  it('discards stored parts when the published hash changed (a new revision)', async () => {
    const { db } = await freshDb();
    const info = await unetInfo();
    const controller = new AbortController();
    await downloadFile(db, {
      modelId: 'm',
      file: UNET,
      url: info.url,
      expectedSize: info.size,
      expectedSha256: 'f'.repeat(64),
      partBytes: PART,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }).catch(() => undefined);
    expect((await db.get('downloads', ['m', UNET]))!.received).toBeGreaterThan(0);
    const record = await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, expectedSize: info.size, expectedSha256: info.sha256!, partBytes: PART });
    expect(record.sha256).toBe(info.sha256);
    expect(cdnRequests().at(-1)!.range).toBeUndefined();
  });

  it('raises FileNotFoundError for a missing file and deleteDownload removes state and parts', async () => {
    const { db } = await freshDb();
    const missing = `${hub.base}/${REPO}/resolve/main/unet/nothing.safetensors`;
    await expect(downloadFile(db, { modelId: 'm', file: 'unet/nothing.safetensors', url: missing })).rejects.toBeInstanceOf(FileNotFoundError);
    const info = await unetInfo();
    await downloadFile(db, { modelId: 'm', file: UNET, url: info.url, partBytes: PART });
    await deleteDownload(db, 'm', UNET);
    expect(await db.count('parts')).toBe(0);
    expect(await db.count('downloads')).toBe(0);
  });
});
