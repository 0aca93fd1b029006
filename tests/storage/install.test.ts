/**
 * Installing from the (local) hub end to end: fp16 variants preferred, full files on a 404, every file verified,
 * the downloaded files deleted once imported; the space check; a connection cut during an install; two installs
 * of one model sharing the work; cancellation.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StorageFormat } from '../../engine/gpu/tensor';
import type { CatalogEntry } from '../../storage/catalog';
import { hubModel } from '../../storage/catalog';
import { DownloadCancelledError, InsufficientStorageError } from '../../storage/errors';
import { estimateStoredBytes, installFromHub, type InstallOptions, type InstallProgress } from '../../storage/install';
import { openStoredModel, storageUsed } from '../../storage/model-store';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { expectSameTensors, FIXTURE_DIR, freshDb, mb, recordingSleep, REPO } from './fixture';

const CHUNK = 512 << 10;
const PART = 1 << 20;
const FP16 = {
  text_encoder: 'text_encoder/model.fp16.safetensors',
  unet: 'unet/diffusion_pytorch_model.fp16.safetensors',
  vae: 'vae/diffusion_pytorch_model.fp16.safetensors',
} as const;

let hub: HubServer;
let entry: CatalogEntry;
beforeAll(async () => {
  hub = await startHubServer({ [REPO]: FIXTURE_DIR }, { fp16Variants: true });
  entry = hubModel(REPO);
});
afterAll(() => hub.close());
afterEach(() => {
  hub.log.length = 0;
});

const plenty = { estimate: async () => ({ usage: 0, quota: 10e9 }), persist: async () => true };
const options = (extra: Partial<InstallOptions> = {}): InstallOptions => ({
  format: 'f16',
  base: hub.base,
  chunkBytes: CHUNK,
  partBytes: PART,
  storage: plenty,
  retry: { sleep: recordingSleep().sleep },
  ...extra,
});
const weightDownloads = () => hub.log.filter((r) => r.path.startsWith('/cdn/'));

async function expectInstalled(db: Awaited<ReturnType<typeof freshDb>>['db'], files: Record<keyof typeof FP16, string>, format: StorageFormat) {
  const model = await openStoredModel(db, entry.id);
  for (const [component, path] of Object.entries(files)) {
    expect(model.manifest.components[component as keyof typeof FP16]!.file).toBe(path);
    await expectSameTensors(await model.weights(component as keyof typeof FP16), hub.file(REPO, path), format);
  }
}

describe('installFromHub', () => {
  it('installs the fp16 variants, verifies and imports them, and deletes the downloaded files', async () => {
    const { db } = await freshDb();
    const reports: InstallProgress[] = [];
    const started = performance.now();
    const manifest = await installFromHub(db, entry, options({ onProgress: (p) => reports.push(p) }));
    const ms = performance.now() - started;
    const bytes = Object.values(FP16).reduce((sum, path) => sum + hub.file(REPO, path).byteLength, 0);
    console.log(`install (download + verify + parse + quantise + store, Node + fake-indexeddb, ${(bytes / 1e6).toFixed(1)} MB): ${mb(bytes, ms)} MB/s`);

    expect(manifest).toMatchObject({ status: 'complete', format: 'f16', source: { kind: 'hub', repo: REPO, revision: 'main' } });
    expect(Object.keys(manifest.texts).sort()).toEqual([
      'model_index.json',
      'scheduler/scheduler_config.json',
      'text_encoder/config.json',
      'tokenizer/merges.txt',
      'tokenizer/special_tokens_map.json',
      'tokenizer/tokenizer_config.json',
      'tokenizer/vocab.json',
      'unet/config.json',
      'vae/config.json',
    ]);
    await expectInstalled(db, FP16, 'f16');
    // Each weight file downloaded once, in full; the raw parts are gone after the import.
    expect(weightDownloads().map((r) => [r.path.replace(`/cdn/${REPO}/`, ''), r.range])).toEqual(Object.values(FP16).map((p) => [p, undefined]));
    expect(await db.count('parts')).toBe(0);
    expect(await db.count('downloads')).toBe(0);
    expect(await storageUsed(db)).toBeLessThan(manifest.storedBytes + 100_000);

    const downloads = reports.filter((r) => r.stage === 'download');
    expect(downloads.at(-1)).toMatchObject({ bytes, total: bytes });
    expect(reports.some((r) => r.stage === 'import')).toBe(true);

    // Installing again returns the stored model without any request.
    hub.log.length = 0;
    expect((await installFromHub(db, entry, options())).completedAt).toBe(manifest.completedAt);
    expect(hub.log).toHaveLength(0);
  });

  it('falls back to the full-precision file when the fp16 variant is missing (404)', async () => {
    const { db } = await freshDb();
    hub.fault(/resolve\/main\/unet\/diffusion_pytorch_model\.fp16\.safetensors$/, { kind: 'not-found' });
    await installFromHub(db, entry, options({ format: 'int8' }));
    await expectInstalled(db, { ...FP16, unet: 'unet/diffusion_pytorch_model.safetensors' }, 'int8');
  });

  it('resumes a weight file after a cut connection within the install', async () => {
    const { db } = await freshDb();
    hub.fault(/^\/cdn\/.*unet/, { kind: 'cut', afterBytes: 1_500_000 });
    await installFromHub(db, entry, options());
    const unet = weightDownloads().filter((r) => r.path.includes('unet'));
    expect(unet.map((r) => r.range)).toEqual([undefined, 'bytes=1500000-']);
    await expectInstalled(db, FP16, 'f16');
  });

  it('refuses to start when the space is short, with a clear message, and stored models still load', async () => {
    const { db } = await freshDb();
    await installFromHub(db, entry, options());
    const other = hubModel('test/other-copy');
    const tight = { estimate: async () => ({ usage: 9_000_000, quota: 12_000_000 }) };
    hub.log.length = 0;
    const error = await installFromHub(db, { ...other, repo: REPO }, options({ storage: tight })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientStorageError);
    expect((error as Error).message).toMatch(/Not enough storage: this needs about [\d.]+ MB but only 3\.00 MB is free/);
    // Only metadata was asked for: no weight bytes, no manifest for the refused model.
    expect(weightDownloads()).toHaveLength(0);
    expect(await db.get('manifests', other.id)).toBeUndefined();
    await expectInstalled(db, FP16, 'f16');
  });

  it('estimates the stored size from the checkpoint size and the format', () => {
    expect(estimateStoredBytes('unet/diffusion_pytorch_model.fp16.safetensors', 2_000, 'int8')).toBe(1050);
    expect(estimateStoredBytes('unet/diffusion_pytorch_model.safetensors', 4_000, 'f16')).toBe(2100);
  });

  it('shares one installation between concurrent calls for the same model', async () => {
    const { db } = await freshDb();
    const seen: number[] = [];
    const [a, b] = await Promise.all([
      installFromHub(db, entry, options()),
      installFromHub(db, entry, options({ onProgress: (p) => seen.push(p.bytes) })),
    ]);
    expect(a).toEqual(b);
    expect(weightDownloads()).toHaveLength(3);
    expect(seen.length).toBeGreaterThan(0);
  });

  it('keeps running for the other caller when one cancels, and stops when all have', async () => {
    const { db } = await freshDb();
    const first = new AbortController();
    const a = installFromHub(db, entry, options({ signal: first.signal }));
    const b = installFromHub(db, entry, options());
    first.abort();
    await expect(a).rejects.toBeInstanceOf(DownloadCancelledError);
    expect((await b).status).toBe('complete');

    const { db: other } = await freshDb();
    hub.log.length = 0;
    const only = new AbortController();
    let release!: () => void;
    hub.fault(/^\/cdn\/.*unet/, { kind: 'hold', release: new Promise<void>((resolve) => (release = resolve)) });
    const c = installFromHub(other, entry, options({ signal: only.signal }));
    // Cancel while the UNet's download is in flight (the server holds its body back).
    while (!weightDownloads().some((r) => r.path.includes('unet'))) await new Promise((resolve) => setTimeout(resolve, 5));
    only.abort();
    const cancelled = await c.catch((e: unknown) => e);
    release();
    expect(cancelled).toBeInstanceOf(DownloadCancelledError);
    const manifest = (await other.get('manifests', entry.id))!;
    expect(manifest.status).toBe('incomplete');
    expect(Object.keys(manifest.components)).toEqual(['text_encoder']);

    // Starting again finishes it without downloading the text encoder a second time.
    hub.log.length = 0;
    await installFromHub(other, entry, options());
    expect(weightDownloads().map((r) => r.path.split('/')[4])).toEqual(['unet', 'vae']);
    await expectInstalled(other, FP16, 'f16');
  });
});
