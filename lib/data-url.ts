/**
 * Images as data URLs, the form they travel in between the extension's contexts (messages are JSON: no typed arrays)
 * and the form an <img> shows and a download link saves.
 */
import { encode } from 'fast-png';

const PNG_PREFIX = 'data:image/png;base64,';

/** PNG bytes → a data URL. */
export function pngDataUrl(png: Uint8Array): string {
  // String.fromCharCode takes its arguments on the stack: convert in chunks well below engines' argument limits.
  const CHUNK = 0x8000;
  let binary = '';
  for (let i = 0; i < png.length; i += CHUNK) binary += String.fromCharCode(...png.subarray(i, i + CHUNK));
  return PNG_PREFIX + btoa(binary);
}

/** A PNG data URL → its bytes. */
export function dataUrlBytes(url: string): Uint8Array {
  if (!url.startsWith(PNG_PREFIX)) throw new Error('not a PNG data URL');
  return Uint8Array.from(atob(url.slice(PNG_PREFIX.length)), (c) => c.charCodeAt(0));
}

/** 8-bit RGBA pixels (a latent preview) → a PNG data URL. */
export function rgbaDataUrl(rgba: Uint8ClampedArray, width: number, height: number): string {
  return pngDataUrl(encode({ width, height, channels: 4, depth: 8, data: new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength) }));
}
