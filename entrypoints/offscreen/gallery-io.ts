/**
 * The offscreen document's side of the history gallery: a finished image is kept with a thumbnail before its job is
 * reported done (so a page that hears "done" finds it there), and an img2img job's starting image is read back from
 * it, at the job's size.
 */
import { dataUrlBytes } from '../../lib/data-url';
import { GalleryItemMissingError, galleryItem, saveGalleryImage, type GalleryParams } from '../../lib/gallery';
import type { JobResult } from '../../lib/messages';
import { decodeImagePng } from '../../lib/png';
import { openStore, type StoreDB } from '../../storage/db';

/** Thumbnails are shown at 64 CSS pixels: twice that for high-density screens. */
const THUMBNAIL_SIZE = 128;

let db: Promise<StoreDB> | undefined;
function store(): Promise<StoreDB> {
  db ??= openStore().catch((error: unknown) => {
    db = undefined;
    throw error;
  });
  return db;
}

async function thumbnailPng(png: Blob): Promise<Uint8Array> {
  const source = await createImageBitmap(png);
  const scale = Math.min(1, THUMBNAIL_SIZE / Math.max(source.width, source.height));
  if (scale === 1) return new Uint8Array(await png.arrayBuffer());
  const width = Math.max(1, Math.round(source.width * scale));
  const height = Math.max(1, Math.round(source.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d')!;
  context.imageSmoothingQuality = 'high';
  context.drawImage(source, 0, 0, width, height);
  return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
}

/** Keeps the job's image in the gallery; the key, or why it could not be kept (the job keeps its image either way). */
export async function keepInGallery(params: GalleryParams, result: Omit<JobResult, 'gallery'>): Promise<JobResult['gallery']> {
  try {
    const png = dataUrlBytes(result.image);
    const thumbnail = await thumbnailPng(new Blob([png.slice().buffer], { type: 'image/png' }));
    return { id: await saveGalleryImage(await store(), params, png, thumbnail) };
  } catch (error) {
    return { error: `The image could not be kept in the history: ${(error as Error).message}` };
  }
}

/** A PNG as RGB HWC in [0, 1] at width × height (resized by the browser when it has another size). */
async function pngRgb(bytes: Uint8Array, width: number, height: number): Promise<Float32Array> {
  const png = decodeImagePng(bytes);
  if (png.width === width && png.height === height) return png.rgb;
  const bitmap = await createImageBitmap(new Blob([bytes.slice().buffer], { type: 'image/png' }), { resizeWidth: width, resizeHeight: height, resizeQuality: 'high' });
  const context = new OffscreenCanvas(width, height).getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, width, height).data;
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba[i * 4 + c]! / 255;
  return rgb;
}

/** The gallery image `id` as RGB HWC in [0, 1] at width × height (resized when it has another size). */
export async function loadStartImage(id: number, width: number, height: number): Promise<Float32Array> {
  const item = await galleryItem(await store(), id);
  if (!item) throw new GalleryItemMissingError(id);
  return pngRgb(new Uint8Array(await item.png.arrayBuffer()), width, height);
}

/** The job's mask could not be read as a PNG image. */
export class MaskUnreadableError extends Error {
  override readonly name = 'MaskUnreadableError';
  constructor(cause: unknown) {
    super(`The painted mask could not be read (${(cause as Error).message}): clear it and paint it again.`, { cause });
  }
}

/**
 * An inpainting mask (a PNG data URL, white = repaint) as one value per pixel in [0, 1] at width × height: its red
 * channel, resized when the popup painted it at another size (the resize's grey edge pixels blend).
 */
export async function loadMask(dataUrl: string, width: number, height: number): Promise<Float32Array> {
  try {
    const rgb = await pngRgb(dataUrlBytes(dataUrl), width, height);
    return Float32Array.from({ length: width * height }, (_, i) => rgb[i * 3]!);
  } catch (error) {
    throw new MaskUnreadableError(error);
  }
}
