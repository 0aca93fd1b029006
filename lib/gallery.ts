/**
 * The history gallery: every finished image, kept in IndexedDB (`gallery` store of storage/db.ts) as its PNG (which
 * carries the A1111 `parameters` text) with a small thumbnail and the job's parameters, so that an item can be shown,
 * downloaded, deleted, reused (its settings back in the form, seed included) and started from (img2img). Pages read
 * it directly; messages only ever carry an item's key.
 */
import { addToGallery, deleteFromGallery, listGallery, type GalleryRecord, type StoreDB } from '../storage/db';
import { settingsProblem, type GenerationSettings, type JobSource } from './messages';

/** What made an image: the settings as asked, the seed used (drawn when they asked for a random one), the model. */
export interface GalleryParams {
  settings: GenerationSettings;
  seed: number;
  model: string;
  source: JobSource;
  width: number;
  height: number;
}

export interface GalleryItem {
  id: number;
  createdAt: number;
  params: GalleryParams;
  png: Blob;
  thumbnail: Blob;
}

/** The gallery item `id` no longer exists (deleted meanwhile): nothing to show or start from. */
export class GalleryItemMissingError extends Error {
  override readonly name = 'GalleryItemMissingError';
  constructor(id: number) {
    super(`Image ${id} is no longer in the history (it was deleted). Choose another starting image, or none.`);
  }
}

function parseParams(value: unknown): GalleryParams | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const p = value as Record<string, unknown>;
  const ok =
    settingsProblem(p.settings) === undefined &&
    Number.isSafeInteger(p.seed) &&
    typeof p.model === 'string' &&
    (p.source === 'popup' || p.source === 'menu') &&
    Number.isSafeInteger(p.width) &&
    Number.isSafeInteger(p.height);
  return ok ? (p as unknown as GalleryParams) : undefined;
}

const asBlob = (bytes: Blob | ArrayBuffer) => (bytes instanceof Blob ? bytes : new Blob([bytes], { type: 'image/png' }));

function itemOf(record: GalleryRecord): GalleryItem | undefined {
  const params = parseParams(record.params);
  if (record.id === undefined || !params) return undefined;
  const png = asBlob(record.png);
  return { id: record.id, createdAt: record.createdAt, params, png, thumbnail: record.thumbnail ? asBlob(record.thumbnail) : png };
}

/** Keeps an image; bytes are stored as ArrayBuffers (every IndexedDB, fakes included, clones those). */
export async function saveGalleryImage(db: StoreDB, params: GalleryParams, png: Uint8Array, thumbnail: Uint8Array): Promise<number> {
  const copy = (bytes: Uint8Array) => bytes.slice().buffer;
  return addToGallery(db, { createdAt: Date.now(), modelId: params.model, params: { ...params }, png: copy(png), thumbnail: copy(thumbnail) });
}

/** The newest `limit` items, newest first (records that are not generated images are left out). */
export async function galleryItems(db: StoreDB, limit = Infinity): Promise<GalleryItem[]> {
  return (await listGallery(db, limit)).map(itemOf).filter((item): item is GalleryItem => item !== undefined);
}

export async function galleryItem(db: StoreDB, id: number): Promise<GalleryItem | undefined> {
  const record = await db.get('gallery', id);
  return record ? itemOf(record) : undefined;
}

export async function deleteGalleryItem(db: StoreDB, id: number): Promise<void> {
  await deleteFromGallery(db, id);
}

/** The settings that make the item's image again: as asked, with the seed that was used. */
export function reuseSettings(params: GalleryParams): GenerationSettings {
  return { ...params.settings, seed: params.seed };
}
