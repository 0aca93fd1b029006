/**
 * The model store without the network: importing the fixture folder from disk (Blobs, as the options page gets
 * them) in every weight format, reading it back as the engine's ModelFiles, chunk hashes, crash/cancel safety of
 * the import, deletion, and the settings and gallery stores.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STORAGE_FORMATS } from '../../engine/gpu/tensor';
import { addToGallery, deleteFromGallery, getSetting, listGallery, setSetting } from '../../storage/db';
import { CorruptChunkError, InvalidModelFilesError, ModelExistsError, ModelIncompleteError, ModelNotFoundError } from '../../storage/errors';
import { importLocalModel, localImportFiles, localModelId } from '../../storage/local-import';
import { deleteModel, ImportCancelledError, importModel, listModels, openStoredModel, storageUsed } from '../../storage/model-store';
import { expectSameTensors, FIXTURE_DIR, fixtureFiles, freshDb, mb } from './fixture';

const CHUNK = 256 << 10;
const COMPONENT_FILES = {
  text_encoder: 'text_encoder/model.safetensors',
  unet: 'unet/diffusion_pytorch_model.safetensors',
  vae: 'vae/diffusion_pytorch_model.safetensors',
} as const;

async function checkpoint(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(join(FIXTURE_DIR, path)));
}

describe('model store', () => {
  it.each(STORAGE_FORMATS)('imports the fixture folder as %s and reads back exactly the packed tensors', async (format) => {
    const { db } = await freshDb();
    const files = await fixtureFiles();
    const sourceBytes = (await Promise.all(Object.values(COMPONENT_FILES).map(checkpoint))).reduce((a, c) => a + c.byteLength, 0);

    let started = performance.now();
    const manifest = await importLocalModel(db, 'tiny', files, { format, chunkBytes: CHUNK, name: 'Tiny SD' });
    const storeMs = performance.now() - started;
    expect(manifest).toMatchObject({ id: 'tiny', name: 'Tiny SD', status: 'complete', format, source: { kind: 'local' } });
    expect(manifest.texts['unet/config.json']).toBe(await readFile(join(FIXTURE_DIR, 'unet/config.json'), 'utf8'));
    expect(await db.count('chunks')).toBe(manifest.nextChunk);
    expect(manifest.nextChunk).toBeGreaterThan(3);

    // Load speed: every tensor as the engine reads it today (f32, dequantised), then as packed records only.
    const components = Object.keys(COMPONENT_FILES) as (keyof typeof COMPONENT_FILES)[];
    started = performance.now();
    const loading = await openStoredModel(db, 'tiny');
    let valueBytes = 0;
    for (const component of components) {
      const params = await loading.weights(component);
      for (const name of params.names()) valueBytes += (await params.read(name)).byteLength;
    }
    const loadMs = performance.now() - started;
    started = performance.now();
    const packedLoad = await openStoredModel(db, 'tiny');
    for (const component of components) {
      const params = await packedLoad.weights(component);
      for (const name of params.names()) await params.readPacked(name);
    }
    const packedMs = performance.now() - started;
    // Read in file order, each chunk is read from IndexedDB (and hashed) once.
    expect(loading.stats.chunkReads).toBe(manifest.nextChunk);
    expect(packedLoad.stats).toEqual({ chunkReads: manifest.nextChunk, bytesRead: manifest.storedBytes });
    console.log(
      `${format} (Node + fake-indexeddb): store ${mb(sourceBytes, storeMs)} MB/s of checkpoint (${(sourceBytes / 1e6).toFixed(1)} MB → ${(manifest.storedBytes / 1e6).toFixed(1)} MB); ` +
        `load as f32 ${mb(valueBytes, loadMs)} MB/s of f32 values; load packed ${mb(manifest.storedBytes, packedMs)} MB/s of stored bytes`,
    );

    const model = await openStoredModel(db, 'tiny');
    expect(await model.text('tokenizer/merges.txt')).toBe(await readFile(join(FIXTURE_DIR, 'tokenizer/merges.txt'), 'utf8'));
    expect(await model.text('no/such.json')).toBeUndefined();
    for (const [component, path] of Object.entries(COMPONENT_FILES)) {
      await expectSameTensors(await model.weights(component as keyof typeof COMPONENT_FILES), await checkpoint(path), format);
    }
  });

  it('keeps vectors and position embeddings in f32 and token embeddings in f16 under int4; readPacked gives the stored matrix', async () => {
    const { db } = await freshDb();
    await importLocalModel(db, 'tiny', await fixtureFiles(), { format: 'int4', chunkBytes: CHUNK });
    const text = await (await openStoredModel(db, 'tiny')).weights('text_encoder');
    expect(text.record('embeddings.token_embedding.weight')).toMatchObject({ format: 'f16', rows: 815, cols: 64 });
    expect(text.record('embeddings.position_embedding.weight')).toMatchObject({ format: 'f32' });
    expect(text.record('final_layer_norm.weight')).toMatchObject({ format: 'f32' });
    const unet = await (await openStoredModel(db, 'tiny')).weights('unet');
    const conv = unet.record('conv_in.weight')!;
    expect(conv).toMatchObject({ format: 'int4', shape: [32, 4, 3, 3], rows: 32, cols: 36 });
    const packed = await unet.readPacked('conv_in.weight');
    expect(packed.shape).toEqual([32, 36]);
    expect(packed.data.byteLength).toBe(conv.byteLength);
    expect(packed.scales!.byteLength).toBe(conv.scalesLength);
  });

  it('refuses folders that are not SD pipelines, and a second import of a stored model', async () => {
    const { db } = await freshDb();
    const files = await fixtureFiles();
    await expect(localImportFiles(files.filter((f) => !f.path.includes('unet/')))).rejects.toBeInstanceOf(InvalidModelFilesError);
    await expect(importLocalModel(db, 'x', files.filter((f) => !f.path.endsWith('vocab.json')), { format: 'f16' })).rejects.toThrow(/lacks tokenizer\/vocab\.json/);
    expect(await db.count('manifests')).toBe(0);
    await importLocalModel(db, 'tiny', files, { format: 'f16', chunkBytes: CHUNK });
    await expect(importLocalModel(db, 'tiny', files, { format: 'f16', chunkBytes: CHUNK })).rejects.toBeInstanceOf(ModelExistsError);
    await expect(openStoredModel(db, 'other')).rejects.toBeInstanceOf(ModelNotFoundError);
  });

  it('names an imported model after its pipeline folder, chosen itself, below the folder chosen, or dropped as its contents', async () => {
    const files = await fixtureFiles();
    const under = (prefix: string) => files.map((f) => ({ ...f, path: prefix + f.path.slice(f.path.indexOf('/') + 1) }));
    expect(localModelId(under('tiny-sd1/'))).toBe('local/tiny-sd1');
    expect(localModelId(under('models/SD 1.5 (mine)/'))).toBe('local/SD-1.5-mine');
    // The folder's contents dropped: no folder name came with them.
    expect(localModelId(under(''))).toBe('local/model');
    expect((await localImportFiles(under(''))).texts['unet/config.json']).toBeDefined();
  });

  it('never shows an interrupted import as complete, and resumes after the components already stored', async () => {
    const { db } = await freshDb();
    const files = await localImportFiles(await fixtureFiles());
    const controller = new AbortController();
    const asked: string[] = [];
    const counting = { ...files, weights: (c: Parameters<typeof files.weights>[0]) => (asked.push(c), files.weights(c)) };
    const error = await importModel(db, 'tiny', counting, {
      format: 'int8',
      chunkBytes: CHUNK,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.component === 'unet' && p.bytes > p.total / 2) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportCancelledError);
    const partial = (await db.get('manifests', 'tiny'))!;
    expect(partial.status).toBe('incomplete');
    expect(Object.keys(partial.components)).toEqual(['text_encoder']);
    // The unet's chunks written before the cancel are there but belong to no component yet.
    expect(await db.count('chunks')).toBeGreaterThan(partial.components.text_encoder!.chunkCount);
    await expect(openStoredModel(db, 'tiny')).rejects.toBeInstanceOf(ModelIncompleteError);
    expect(await listModels(db)).toMatchObject([{ id: 'tiny', status: 'incomplete' }]);

    asked.length = 0;
    const manifest = await importModel(db, 'tiny', counting, { format: 'int8', chunkBytes: CHUNK });
    expect(asked).toEqual(['unet', 'vae']);
    expect(manifest.status).toBe('complete');
    expect(await db.count('chunks')).toBe(manifest.nextChunk);
    const unet = await (await openStoredModel(db, 'tiny')).weights('unet');
    await expectSameTensors(unet, await checkpoint(COMPONENT_FILES.unet), 'int8');
  });

  it('detects a chunk whose bytes no longer match its hash, leaving other models intact', async () => {
    const { db } = await freshDb();
    const files = await fixtureFiles();
    await importLocalModel(db, 'a', files, { format: 'f16', chunkBytes: CHUNK });
    await importLocalModel(db, 'b', files, { format: 'f16', chunkBytes: CHUNK });
    const a = (await db.get('manifests', 'a'))!;
    const target = a.components.unet!.firstChunk + 1;
    const record = (await db.get('chunks', ['a', target]))!;
    new Uint8Array(record.bytes)[1000]! ^= 0x01;
    await db.put('chunks', record);

    const unet = await (await openStoredModel(db, 'a')).weights('unet');
    const inTarget = a.components.unet!.tensors.find((t) => t.chunk === target)!;
    const error = await unet.read(inTarget.name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptChunkError);
    expect((error as Error).message).toMatch(/stored weights of a are damaged \(chunk \d+ fails its checksum\)\. Delete the model and download it again/);

    const other = await (await openStoredModel(db, 'b')).weights('unet');
    await expectSameTensors(other, await checkpoint(COMPONENT_FILES.unet), 'f16');
  });

  it('deletes a model with its chunks, downloads and parts; the space used drops back', async () => {
    const { db } = await freshDb();
    const files = await fixtureFiles();
    await importLocalModel(db, 'a', files, { format: 'f16', chunkBytes: CHUNK });
    const before = await storageUsed(db);
    const chunksBefore = await db.count('chunks');

    const manifest = await importLocalModel(db, 'b', files, { format: 'int8', chunkBytes: CHUNK });
    await db.put('downloads', { modelId: 'b', file: 'unet/x.safetensors', url: 'u', received: 5, parts: 1, partSizes: [5], complete: false, updatedAt: 0 });
    await db.put('parts', { modelId: 'b', file: 'unet/x.safetensors', index: 0, bytes: new ArrayBuffer(5) });
    const after = await storageUsed(db);
    expect(after - before).toBeGreaterThanOrEqual(manifest.storedBytes + 5);

    await deleteModel(db, 'b');
    expect(await storageUsed(db)).toBe(before);
    expect(await db.count('chunks')).toBe(chunksBefore);
    expect(await db.count('parts')).toBe(0);
    expect(await db.count('downloads')).toBe(0);
    expect((await listModels(db)).map((m) => m.id)).toEqual(['a']);
  });

  it('keeps settings and gallery images', async () => {
    const { db } = await freshDb();
    await setSetting(db, 'format', 'int8');
    expect(await getSetting<string>(db, 'format')).toBe('int8');
    expect(await getSetting(db, 'missing')).toBeUndefined();
    const first = await addToGallery(db, { createdAt: 1, params: { prompt: 'a' }, png: new Uint8Array([1, 2]).buffer });
    await addToGallery(db, { createdAt: 2, params: { prompt: 'b' }, png: new Uint8Array([3]).buffer });
    expect((await listGallery(db)).map((g) => g.params.prompt)).toEqual(['b', 'a']);
    expect(await listGallery(db, 1)).toHaveLength(1);
    await deleteFromGallery(db, first);
    expect((await listGallery(db)).map((g) => g.params.prompt)).toEqual(['b']);
  });
});
