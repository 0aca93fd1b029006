/** The history gallery over IndexedDB (fake-indexeddb): keep, list newest first, read back, reuse, delete. */
import { describe, expect, it } from 'vitest';
import { deleteGalleryItem, galleryItem, galleryItems, reuseSettings, saveGalleryImage, type GalleryParams } from '../../lib/gallery';
import { addToGallery } from '../../storage/db';
import { freshDb } from './fixture';

const PARAMS: GalleryParams = {
  settings: { prompt: 'a fox', negativePrompt: 'blur', steps: 2, guidance: 1, width: 64, height: 64, seed: null, scheduler: 'euler-a', startImage: { galleryId: 3, strength: 0.5 }, model: 'tiny-sd1' },
  seed: 4242,
  model: 'tiny-sd1',
  source: 'menu',
  width: 64,
  height: 64,
};

describe('the history gallery', () => {
  it('keeps images with their parameters and lists them newest first', async () => {
    const { db } = await freshDb();
    const first = await saveGalleryImage(db, PARAMS, Uint8Array.of(1, 2, 3), Uint8Array.of(4));
    const second = await saveGalleryImage(db, { ...PARAMS, seed: 1 }, Uint8Array.of(5), Uint8Array.of(6));
    // Not a generated image's record: left out of the list.
    await addToGallery(db, { createdAt: Date.now() + 10, params: { what: 'else' }, png: new ArrayBuffer(1) });
    const items = await galleryItems(db);
    expect(items.map((i) => i.id)).toEqual([second, first]);
    const item = (await galleryItem(db, first))!;
    expect(item.params).toEqual(PARAMS);
    expect(new Uint8Array(await item.png.arrayBuffer())).toEqual(Uint8Array.of(1, 2, 3));
    expect(new Uint8Array(await item.thumbnail.arrayBuffer())).toEqual(Uint8Array.of(4));
    // Reuse makes the same image: the seed that was drawn, the starting image and strength.
    expect(reuseSettings(item.params)).toEqual({ ...PARAMS.settings, seed: 4242 });
    await deleteGalleryItem(db, first);
    expect(await galleryItem(db, first)).toBeUndefined();
    expect((await galleryItems(db)).map((i) => i.id)).toEqual([second]);
  });
});
