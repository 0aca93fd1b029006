/** The inpainting arithmetic of engine/inpaint.ts: mask checks, the latent mask's max-pooling, the blends. */
import { describe, expect, it } from 'vitest';
import { blendLatents, latentMask, maskProblem, pasteBack } from '../../engine/inpaint';

describe('inpaint', () => {
  it('names the wrong size, out-of-range and non-finite mask values', () => {
    expect(maskProblem(new Float32Array(16), 4, 4)).toBeUndefined();
    expect(maskProblem(new Float32Array(15), 4, 4)).toMatch(/holds 15 values; a 4×4 image needs 16/);
    for (const bad of [1.5, -0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const mask = new Float32Array(16).fill(0.5);
      mask[6] = bad;
      expect(maskProblem(mask, 4, 4)).toMatch(new RegExp(`between 0 \\(keep\\) and 1 \\(repaint\\); pixel 2, 1 is ${String(bad)}`));
    }
  });

  it('max-pools the mask onto the latent grid, so a patch with any painted pixel is repainted', () => {
    // 4×2 image, factor 2 → 2×1 latents; one painted pixel at half strength in the right patch.
    const mask = Float32Array.from([0, 0, 0, 0.5, 0, 0, 0, 0]);
    expect([...latentMask(mask, 4, 2, 2)]).toEqual([0, 0.5]);
    const odd = new Float32Array(8 * 16);
    odd[15 * 8 + 7] = 1;
    expect([...latentMask(odd, 8, 16, 8)]).toEqual([0, 1]);
  });

  it('blends per latent pixel across channels, exactly at 0 and 1', () => {
    const latents = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const known = Float32Array.from([10, 20, 30, 40, 50, 60]);
    const mask = Float32Array.from([1, 0, 0.25]);
    const out = blendLatents(latents, known, mask, 2);
    expect([...out.subarray(0, 4)]).toEqual([1, 2, 30, 40]);
    expect(out[4]).toBeCloseTo(0.25 * 5 + 0.75 * 50, 5);
    expect(out[5]).toBeCloseTo(0.25 * 6 + 0.75 * 60, 5);
  });

  it('pastes the starting image back where the mask keeps it', () => {
    const decoded = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    const init = Float32Array.from([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]);
    expect([...pasteBack(decoded, init, Float32Array.from([0, 1]))]).toEqual([...init.subarray(0, 3), ...decoded.subarray(3)]);
  });
});
