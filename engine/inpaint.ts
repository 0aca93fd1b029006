/**
 * Masked img2img ("inpainting" for the standard 4-channel SD UNets), as diffusers' legacy inpaint pipeline and
 * A1111's "inpaint, original fill" compute it:
 *
 *   after each scheduler step i:  latents = m · latents + (1 − m) · add_noise(init_latents, noise, t_{i+1})
 *                                 (after the last step: the clean init latents)
 *   after decoding:               image = m_px · decoded + (1 − m_px) · init_image
 *
 * m_px is the user's mask at image size (1 = repaint, 0 = keep, values between blend); m is that mask max-pooled to
 * the latent grid, so a latent pixel whose 8×8 patch holds any painted pixel is repainted in full. An area average
 * would leave edge latents half noise, half image, which the UNet renders as a smeared seam; max-pooling lets it
 * redraw the edge patches and the pixel paste-back then restores every unpainted pixel exactly.
 *
 * The latents live on the CPU between UNet evaluations (the scheduler runs there), so the blend is a plain loop over
 * h·w·4 floats per step: no GPU op, no extra readback.
 */

/** Why `mask` cannot be a width × height mask, or undefined. */
export function maskProblem(mask: Float32Array, width: number, height: number): string | undefined {
  if (mask.length !== width * height) {
    return `The mask holds ${mask.length} values; a ${width}×${height} image needs ${width * height} (one per pixel).`;
  }
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i]!;
    if (!(v >= 0 && v <= 1)) {
      return `The mask's values must be between 0 (keep) and 1 (repaint); pixel ${i % width}, ${Math.floor(i / width)} is ${v}.`;
    }
  }
  return undefined;
}

/** The image-size mask (HW) max-pooled over `factor` × `factor` patches: the latent grid's mask (h × w). */
export function latentMask(mask: Float32Array, width: number, height: number, factor: number): Float32Array {
  const w = width / factor;
  const h = height / factor;
  const out = new Float32Array(w * h);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / factor) * w;
    for (let x = 0; x < width; x++) {
      const i = row + Math.floor(x / factor);
      const v = mask[y * width + x]!;
      if (v > out[i]!) out[i] = v;
    }
  }
  return out;
}

/** m · latents + (1 − m) · known, NHWC latents of `channels` per pixel, `mask` one value per latent pixel. */
export function blendLatents(latents: Float32Array, known: Float32Array, mask: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(latents.length);
  for (let p = 0; p < mask.length; p++) {
    const m = mask[p]!;
    for (let c = 0; c < channels; c++) {
      const i = p * channels + c;
      // Exact at the ends: m = 1 keeps the latents and m = 0 the known values bit for bit.
      out[i] = m === 1 ? latents[i]! : m === 0 ? known[i]! : m * latents[i]! + (1 - m) * known[i]!;
    }
  }
  return out;
}

/** The decoded image (RGB HWC) with the starting image's pixels put back where the mask keeps them. */
export function pasteBack(image: Float32Array, init: Float32Array, mask: Float32Array): Float32Array {
  return blendLatents(image, init, mask, 3);
}
