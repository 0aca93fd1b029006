/**
 * Imports from disk as the offscreen document runs them (entrypoints/offscreen/models.ts `importFromDisk`): the
 * states it publishes as `install-update` events, its end (done, failed with the store's named error, stopped), one
 * import of a model at a time, the space check, and what is left when the document goes away mid-import (the browser
 * closed): an incomplete model, listed as such, that nothing resumes.
 */
import { describe, expect, it } from 'vitest';
import { ModelService } from '../../entrypoints/offscreen/models';
import type { InstallState } from '../../lib/model-messages';
import { openStore } from '../../storage/db';
import { ModelBusyError } from '../../storage/errors';
import type { StorageEstimator } from '../../storage/quota';
import { fixtureFiles, freshDb } from './fixture';

const ID = 'local/tiny-sd1';

/** A model service on `name` in `factory`, the states it published, and a wait for the end of the import of `ID`. */
function service(factory: IDBFactory, name: string, storage: StorageEstimator | null = null, onPublish: (s: InstallState) => void = () => undefined) {
  const published: InstallState[] = [];
  const models = new ModelService(
    (s) => {
      published.push(s);
      onPublish(s);
    },
    () => undefined,
    () => openStore(factory, name),
    storage,
  );
  const ended = async () => {
    await expect.poll(() => published.at(-1)?.phase, { timeout: 60_000 }).toMatch(/^(done|failed|cancelled)$/);
    return published.at(-1)!;
  };
  return { models, published, ended };
}

describe('imports from disk in the model service', () => {
  it('publishes the import as install-update states of a model without a repository, ending complete in the chosen format', async () => {
    const { db, factory } = await freshDb(undefined, 'import-done');
    const { models, published, ended } = service(factory, 'import-done');
    const first = models.importFromDisk(await fixtureFiles(), 'int8');
    expect(first).toMatchObject({ modelId: ID, repo: null, revision: null, format: 'int8', phase: 'prepare', error: null });
    expect(await ended()).toMatchObject({ modelId: ID, phase: 'done', error: null });
    const storing = published.filter((s) => s.phase === 'import');
    expect(storing.length).toBeGreaterThan(0);
    // Progress runs over all three checkpoints, in the store's component order, up to their total.
    expect(storing.map((s) => s.file?.split('/')[0])).toEqual(expect.arrayContaining(['text_encoder', 'unet', 'vae']));
    expect(storing.every((s, i) => s.total > 0 && s.bytes <= s.total && (i === 0 || s.bytes >= storing[i - 1]!.bytes))).toBe(true);
    expect((await db.get('manifests', ID))?.status).toBe('complete');
    const overview = await models.overview();
    expect(overview.installed).toEqual([expect.objectContaining({ id: ID, name: 'tiny-sd1', repo: null, format: 'int8', status: 'complete' })]);
    expect(overview.installs).toEqual([expect.objectContaining({ modelId: ID, phase: 'done' })]);
    db.close();
  });

  it('takes one import of a model at a time', async () => {
    const { db, factory } = await freshDb(undefined, 'import-busy');
    const { models, ended } = service(factory, 'import-busy');
    const files = await fixtureFiles();
    models.importFromDisk(files, 'f16');
    expect(() => models.importFromDisk(files, 'f16')).toThrow(ModelBusyError);
    expect((await ended()).phase).toBe('done');
    db.close();
  });

  it('fails with the store’s named errors: files that are no pipeline, a disk too small; nothing is stored', async () => {
    const { db, factory } = await freshDb(undefined, 'import-failed');
    const files = await fixtureFiles();
    const noUnet = service(factory, 'import-failed');
    noUnet.models.importFromDisk(
      files.filter((f) => !f.path.includes('/unet/')),
      'int8',
    );
    expect((await noUnet.ended()).error).toEqual({ name: 'InvalidModelFilesError', message: expect.stringContaining('No unet/config.json') });

    const full = service(factory, 'import-failed', { estimate: async () => ({ usage: 0, quota: 1 << 20 }) });
    full.models.importFromDisk(files, 'int8');
    expect((await full.ended()).error?.name).toBe('InsufficientStorageError');
    expect(await db.count('manifests')).toBe(0);
    db.close();
  });

  it('stops when asked, leaving an incomplete model that is listed as such', async () => {
    const { db, factory } = await freshDb(undefined, 'import-stopped');
    // Stopped once it stores weights, so its manifest exists.
    const s = service(factory, 'import-stopped', null, (state) => state.phase === 'import' && s.models.cancel(ID));
    s.models.importFromDisk(await fixtureFiles(), 'int8');
    expect((await s.ended()).phase).toBe('cancelled');
    expect((await s.models.overview()).installed).toEqual([expect.objectContaining({ id: ID, status: 'incomplete' })]);
    db.close();
  });

  it('an import whose document went away (the browser closed) is left incomplete, and a new document resumes nothing', async () => {
    const { db, factory } = await freshDb(undefined, 'import-cut');
    // Its connection closes as the browser's does, while it stores the UNet: whatever it writes next is not stored.
    const first = service(factory, 'import-cut', null, (state) => {
      if (state.phase === 'import' && state.file?.startsWith('unet/')) void first.models.db().then((d) => d.close());
    });
    first.models.importFromDisk(await fixtureFiles(), 'int8');
    expect((await first.ended()).phase).toBe('failed');
    expect((await db.get('manifests', ID))?.status).toBe('incomplete');

    const second = service(factory, 'import-cut');
    await second.models.restore();
    const overview = await second.models.overview();
    expect(overview.installed).toEqual([expect.objectContaining({ id: ID, repo: null, status: 'incomplete' })]);
    expect(overview.installs).toEqual([]);
    expect(second.published).toEqual([]);
    db.close();
  });
});
