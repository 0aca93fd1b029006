/**
 * The live preview as pages receive it. The engine renders latents at 1/8 of the image's size (16 × 16 for a
 * 128-pixel image); shown at the popup's size that is a grid of blocks, so the offscreen document enlarges it with
 * bilinear interpolation to about PREVIEW_SIZE pixels first, which reads as an image forming. Larger would only make
 * every step's message bigger: the popup shows it at twice that.
 */
import type { Progress } from '../../engine/pipeline';
import { rgbaDataUrl } from '../../lib/data-url';

const PREVIEW_SIZE = 128;

/** RGBA `width` × `height` enlarged `factor` times, sampling at pixel centres (edges clamped). */
export function upscaleBilinear(rgba: Uint8ClampedArray, width: number, height: number, factor: number): Uint8ClampedArray {
  const w = width * factor;
  const h = height * factor;
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(height - 1, Math.max(0, (y + 0.5) / factor - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(height - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < w; x++) {
      const sx = Math.min(width - 1, Math.max(0, (x + 0.5) / factor - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(width - 1, x0 + 1);
      const fx = sx - x0;
      for (let c = 0; c < 4; c++) {
        const top = rgba[(y0 * width + x0) * 4 + c]! * (1 - fx) + rgba[(y0 * width + x1) * 4 + c]! * fx;
        const bottom = rgba[(y1 * width + x0) * 4 + c]! * (1 - fx) + rgba[(y1 * width + x1) * 4 + c]! * fx;
        out[(y * w + x) * 4 + c] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

export function previewDataUrl(preview: NonNullable<Progress['preview']>): string {
  const factor = Math.max(1, Math.floor(PREVIEW_SIZE / Math.max(preview.width, preview.height)));
  const rgba = factor > 1 ? upscaleBilinear(preview.rgba, preview.width, preview.height, factor) : preview.rgba;
  return rgbaDataUrl(rgba, preview.width * factor, preview.height * factor);
}
