/**
 * Installs that resume on their own when the offscreen document starts again (after a browser restart or a crash),
 * and those that wait for the user: which records resume (storage/install-records.ts), what the model service
 * records as an install runs and ends, and a restarted service finishing an install its predecessor was cut off in
 * the middle of — from the component and byte where it stopped — against the local hub-like server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelService } from '../../entrypoints/offscreen/models';
import type { InstallState } from '../../lib/model-messages';
import { openStore } from '../../storage/db';
import { loadInstallRecords, resumesOnStart, setInstallRecord, type InstallRecord } from '../../storage/install-records';
import { savePreferences } from '../../storage/preferences';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { FIXTURE_DIR, freshDb, REPO } from './fixture';

const MISSING_REPO = 'test/not-there';
const UNET = 'unet/diffusion_pytorch_model.safetensors';
/** The weight downloads' requests, not the one-byte size probes a browser sends the CDN path too. */
const NOT_A_PROBE = /^(?!bytes=0-0$)/;

function record(status: InstallRecord['status'], errorName?: string): InstallRecord {
  return {
    modelId: REPO,
    repo: REPO,
    revision: 'main',
    format: 'f32',
    status,
    error: errorName ? { name: errorName, message: 'm' } : null,
    updatedAt: 1,
  };
}

describe('which installs resume when the browser starts', () => {
  it('those interrupted while running, or stopped by the network; not those the user stopped or the disk could not hold', () => {
    expect(resumesOnStart(record('running'))).toBe(true);
    expect(resumesOnStart(record('failed', 'DownloadFailedError'))).toBe(true);
    expect(resumesOnStart(record('cancelled'))).toBe(false);
    for (const name of ['InsufficientStorageError', 'CorruptDownloadError', 'FileNotFoundError', 'HubError', 'InvalidModelFilesError']) {
      expect(resumesOnStart(record('failed', name)), name).toBe(false);
    }
  });

  it('records are set, replaced and removed per model; entries of another shape are left out', async () => {
    const { db } = await freshDb();
    await setInstallRecord(db, 'a/b', { repo: 'a/b', revision: 'main', format: 'f16', status: 'running', error: null });
    await setInstallRecord(db, 'c/d', { repo: 'c/d', revision: 'v1', format: 'int8', status: 'running', error: null });
    await setInstallRecord(db, 'a/b', { repo: 'a/b', revision: 'main', format: 'f16', status: 'failed', error: { name: 'InsufficientStorageError', message: 'Not enough storage' } });
    await setInstallRecord(db, 'c/d', null);
    const all = await db.get('settings', 'installs');
    await db.put('settings', { ...(all as object), 'x/y': { modelId: 'x/y', status: 'failed' } }, 'installs');
    expect(await loadInstallRecords(db)).toEqual([
      { modelId: 'a/b', repo: 'a/b', revision: 'main', format: 'f16', status: 'failed', error: { name: 'InsufficientStorageError', message: 'Not enough storage' }, updatedAt: expect.any(Number) },
    ]);
    db.close();
  });
});

describe('the model service after a restart', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer({ [REPO]: FIXTURE_DIR });
  });
  afterAll(() => hub.close());
  afterEach(() => {
    hub.log.length = 0;
  });

  /** A model service (as an offscreen document holds it) on `name` in `factory`, and the install states it published. */
  function service(factory: IDBFactory, name: string) {
    const published: InstallState[] = [];
    const models = new ModelService((s) => published.push(s), () => undefined, () => openStore(factory, name));
    const ended = (modelId: string) =>
      expect.poll(() => published.filter((s) => s.modelId === modelId).at(-1)?.phase, { timeout: 60_000 }).toMatch(/^(done|failed|cancelled)$/);
    return { models, published, ended };
  }

  it('records an install while it runs, forgets it once done, and keeps why one failed', async () => {
    const { db, factory } = await freshDb(undefined, 'records');
    await savePreferences(db, { hubEndpoint: hub.base });
    const { models, published, ended } = service(factory, 'records');
    models.install(MISSING_REPO, 'main', 'f16');
    await ended(MISSING_REPO);
    models.install(REPO, 'main', 'f32');
    await models.recorded();
    expect((await loadInstallRecords(db)).map((r) => [r.modelId, r.status])).toEqual([
      [MISSING_REPO, 'failed'],
      [REPO, 'running'],
    ]);
    await ended(REPO);
    expect(published.filter((s) => s.modelId === REPO).at(-1)?.phase).toBe('done');
    await models.recorded();
    const left = await loadInstallRecords(db);
    expect(left).toEqual([expect.objectContaining({ modelId: MISSING_REPO, status: 'failed', error: expect.objectContaining({ name: 'FileNotFoundError' }) })]);
    expect(resumesOnStart(left[0]!)).toBe(false);
    db.close();
  });

  it('finishes an install cut off in the middle of a file, from where it stopped, without being asked', async () => {
    const { db, factory } = await freshDb(undefined, 'resume');
    await savePreferences(db, { hubEndpoint: hub.base });
    // The UNet's connection breaks halfway (what arrived is stored), and the retry hangs until the browser is gone.
    const cutAt = Math.floor(hub.file(REPO, UNET).byteLength / 2);
    let release!: () => void;
    hub.fault(new RegExp(`^/cdn/.*${UNET}`), { kind: 'cut', afterBytes: cutAt }, 1, NOT_A_PROBE);
    hub.fault(new RegExp(`^/cdn/.*${UNET}`), { kind: 'hold', release: new Promise<void>((r) => (release = r)) }, 1, NOT_A_PROBE);

    // The first document: the text encoder is stored and half the UNet when the browser goes away.
    const first = service(factory, 'resume');
    first.models.install(REPO, 'main', 'f32');
    await expect.poll(() => hub.log.some((r) => r.path.includes(`/cdn/${REPO}/${UNET}`) && r.range === `bytes=${cutAt}-`), { timeout: 60_000 }).toBe(true);
    await first.models.recorded();
    // Its connection closes as the browser's does: whatever it does next stores nothing.
    (await first.models.db()).close();
    release();
    expect((await loadInstallRecords(db)).map((r) => r.status)).toEqual(['running']);
    expect((await db.get('manifests', REPO))?.status).toBe('incomplete');

    // A user's other install, stopped by the user, and one the disk could not hold: they wait.
    await setInstallRecord(db, 'test/stopped', { repo: 'test/stopped', revision: 'main', format: 'f16', status: 'cancelled', error: null });
    const full = { name: 'InsufficientStorageError', message: 'Not enough storage: this needs about 2.1 GB…' };
    await setInstallRecord(db, 'test/too-big', { repo: 'test/too-big', revision: 'main', format: 'f16', status: 'failed', error: full });
    hub.log.length = 0;

    const second = service(factory, 'resume');
    await second.models.restore();
    await second.ended(REPO);
    expect(second.published.filter((s) => s.modelId === REPO).at(-1)).toMatchObject({ phase: 'done', error: null });
    expect((await db.get('manifests', REPO))?.status).toBe('complete');
    // The text encoder was stored before the cut and half the UNet had arrived: the rest of those two was fetched.
    const fetched = hub.log.filter((r) => r.path.startsWith('/cdn/')).map((r) => [r.path.replace(`/cdn/${REPO}/`, ''), r.range]);
    expect(fetched).toEqual([
      [UNET, `bytes=${cutAt}-`],
      ['vae/diffusion_pytorch_model.safetensors', undefined],
    ]);
    // The others are shown as they ended, nothing of them asked of the hub.
    expect(second.published.filter((s) => s.modelId !== REPO).map((s) => [s.modelId, s.phase, s.error])).toEqual([
      ['test/stopped', 'cancelled', null],
      ['test/too-big', 'failed', full],
    ]);
    expect(hub.log.some((r) => r.path.includes('test/stopped') || r.path.includes('test/too-big'))).toBe(false);
    expect((await second.models.overview()).installs.map((s) => [s.modelId, s.phase])).toEqual([
      [REPO, 'done'],
      ['test/stopped', 'cancelled'],
      ['test/too-big', 'failed'],
    ]);
    await second.models.recorded();
    expect((await loadInstallRecords(db)).map((r) => r.modelId)).toEqual(['test/stopped', 'test/too-big']);
    db.close();
  });
});
