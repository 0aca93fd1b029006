/**
 * PNG files of generated images (via `fast-png`), with the generation parameters in a `parameters` tEXt chunk in
 * the format other Stable Diffusion tools write and read (AUTOMATIC1111's):
 *
 *   <prompt>
 *   Negative prompt: <negative prompt>
 *   Steps: 20, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: tiny-sd1
 */
import { decode, encode } from 'fast-png';

export interface ImageParameters {
  prompt: string;
  negativePrompt?: string;
  steps: number;
  sampler: string;
  guidance: number;
  seed: number;
  width: number;
  height: number;
  model?: string;
  /** img2img strength, when the image started from another. */
  strength?: number;
  /** Inpainting: only the masked part of the starting image was repainted. */
  mask?: boolean;
}

/** RGB HWC floats in [0, 1] → 8-bit RGB, rounding to nearest (as diffusers' `numpy_to_pil`: ×255 then round). */
export function toRgb8(rgb: Float32Array): Uint8Array {
  return Uint8Array.from(rgb, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
}

export function encodeImagePng(rgb: Float32Array, width: number, height: number, params?: ImageParameters): Uint8Array {
  return encode({ width, height, channels: 3, depth: 8, data: toRgb8(rgb), ...(params ? { text: { parameters: parametersText(params) } } : {}) });
}

/** A PNG → RGB HWC floats in [0, 1] (alpha dropped, grey expanded), plus its parameters when it carries them. */
export function decodeImagePng(bytes: Uint8Array): { rgb: Float32Array; width: number; height: number; parameters?: ImageParameters } {
  const png = decode(bytes);
  const { width, height, channels } = png;
  const max = png.depth === 16 ? 65535 : 255;
  if (png.palette) throw new Error('Indexed-colour PNGs are not supported: save the image as RGB.');
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = png.data[i * channels + (channels >= 3 ? c : 0)]! / max;
  }
  const text = png.text.parameters;
  const parameters = text === undefined ? undefined : parseParametersText(text);
  return { rgb, width, height, ...(parameters ? { parameters } : {}) };
}

export function parametersText(p: ImageParameters): string {
  const fields = [
    `Steps: ${p.steps}`,
    `Sampler: ${p.sampler}`,
    `CFG scale: ${p.guidance}`,
    `Seed: ${p.seed}`,
    `Size: ${p.width}x${p.height}`,
    ...(p.model ? [`Model: ${p.model}`] : []),
    ...(p.strength !== undefined ? [`Denoising strength: ${p.strength}`] : []),
    ...(p.mask ? ['Mask: yes'] : []),
  ];
  return [p.prompt, ...(p.negativePrompt ? [`Negative prompt: ${p.negativePrompt}`] : []), fields.join(', ')].join('\n');
}

/** Reads a `parameters` text back; undefined when it is not in that format. */
export function parseParametersText(text: string): ImageParameters | undefined {
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  const fields = new Map<string, string>();
  for (const m of last.matchAll(/([A-Za-z][A-Za-z ]*): ([^,]*)(?:,|$)/g)) fields.set(m[1]!.trim(), m[2]!.trim());
  const size = /^(\d+)x(\d+)$/.exec(fields.get('Size') ?? '');
  if (!fields.has('Steps') || !fields.has('Seed') || !size) return undefined;
  const negIndex = lines.findIndex((l) => l.startsWith('Negative prompt: '));
  const prompt = (negIndex < 0 ? lines : lines.slice(0, negIndex)).join('\n');
  const negativePrompt = negIndex < 0 ? undefined : lines.slice(negIndex).join('\n').slice('Negative prompt: '.length);
  const strength = fields.get('Denoising strength');
  return {
    prompt,
    ...(negativePrompt ? { negativePrompt } : {}),
    steps: Number(fields.get('Steps')),
    sampler: fields.get('Sampler') ?? '',
    guidance: Number(fields.get('CFG scale') ?? 'NaN'),
    seed: Number(fields.get('Seed')),
    width: Number(size[1]),
    height: Number(size[2]),
    ...(fields.has('Model') ? { model: fields.get('Model')! } : {}),
    ...(strength !== undefined ? { strength: Number(strength) } : {}),
    ...(fields.get('Mask') === 'yes' ? { mask: true } : {}),
  };
}
