import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImagePng, encodeImagePng, parametersText, parseParametersText, toRgb8, type ImageParameters } from '../../lib/png';
import { cases, tensor, TINY } from '../models/fixtures';

const params: ImageParameters = {
  prompt: 'a red fox,\nin snow',
  negativePrompt: 'blurry, low quality',
  steps: 20,
  sampler: 'dpm++2m',
  guidance: 7.5,
  seed: 1234567890123,
  width: 64,
  height: 32,
  model: 'tiny-sd1',
  strength: 0.6,
};

describe('PNG with generation parameters', () => {
  it('round-trips pixels and parameters', () => {
    const rgb = Float32Array.from({ length: 64 * 32 * 3 }, (_, i) => (i % 256) / 255);
    const png = encodeImagePng(rgb, 64, 32, params);
    const back = decodeImagePng(png);
    expect([back.width, back.height]).toEqual([64, 32]);
    expect(toRgb8(back.rgb)).toEqual(toRgb8(rgb));
    expect(back.parameters).toEqual(params);
  });

  it('writes the parameters text other SD tools read', () => {
    expect(parametersText(params)).toBe(
      'a red fox,\nin snow\nNegative prompt: blurry, low quality\n' +
        'Steps: 20, Sampler: dpm++2m, CFG scale: 7.5, Seed: 1234567890123, Size: 64x32, Model: tiny-sd1, Denoising strength: 0.6',
    );
    expect(parseParametersText('just a caption')).toBeUndefined();
    const masked = parametersText({ ...params, mask: true });
    expect(masked.endsWith('Denoising strength: 0.6, Mask: yes')).toBe(true);
    expect(parseParametersText(masked)).toEqual({ ...params, mask: true });
  });

  it('renders 8-bit pixels exactly as the reference pipeline does', () => {
    const c = cases.pipeline[0]!;
    const reference = decodeImagePng(readFileSync(join(TINY, c.png)));
    expect(toRgb8(tensor(c.image))).toEqual(toRgb8(reference.rgb));
  });
});
