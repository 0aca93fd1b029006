import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GpuContext } from '../../engine/gpu/context';
import { createPlanDevice } from '../../engine/gpu/plan-device';
import { ClipTextEncoder } from '../../engine/models/clip';
import { parseClipTextConfig, parseUNetConfig, parseVaeConfig } from '../../engine/models/config';
import type { ParamSource } from '../../engine/models/params';
import { UNet } from '../../engine/models/unet';
import { VaeDecoder, VaeEncoder } from '../../engine/models/vae';
import { FIXTURES } from './fixtures';

interface RealConfig {
  config: Record<string, unknown>;
  tensors: Record<string, number[]>;
}

function read(name: string): RealConfig {
  return JSON.parse(readFileSync(join(FIXTURES, 'real-configs', `${name}.json`), 'utf8')) as RealConfig;
}

/** Shapes only: a dry load never reads values. */
function shapesOnly(tensors: Record<string, number[]>): ParamSource {
  const names = Object.keys(tensors);
  return {
    shape: (name) => tensors[name],
    read: (name) => Promise.reject(new Error(`dry load read ${name}`)),
    names: () => names,
  };
}

function planContext(): GpuContext {
  const { device, summary } = createPlanDevice();
  return GpuContext.fromDevice(device, summary);
}

// Each real checkpoint's tensor list: the model built from the config must ask for every tensor, with its shape,
// and nothing else (a missing or misshapen tensor throws a ShapeError naming it). No weight is read or allocated.
describe('models built from the real SD configs consume exactly their checkpoints', () => {
  for (const name of ['sd15-unet', 'sd21-unet']) {
    it(name, async () => {
      const real = read(name);
      const unet = await UNet.load(planContext(), parseUNetConfig(real.config), shapesOnly(real.tensors), { format: 'int8', dry: true });
      expect(unet.unused()).toEqual([]);
    });
  }

  it('sd-vae (decoder and encoder)', async () => {
    const real = read('sd-vae');
    const config = parseVaeConfig(real.config);
    const source = shapesOnly(real.tensors);
    const ctx = planContext();
    const decoder = await VaeDecoder.load(ctx, config, source, { format: 'f16', dry: true });
    const encoder = await VaeEncoder.load(ctx, config, source, { format: 'f16', dry: true });
    // Every tensor belongs to one of the two halves, and each half used all of its own.
    expect(decoder.unused()).toEqual([]);
    expect(encoder.unused()).toEqual([]);
    expect(Object.keys(real.tensors).every((n) => /^(de|en)coder\.|^(post_)?quant_conv\./.test(n))).toBe(true);
  });

  for (const name of ['clip-vit-l14-text', 'openclip-vit-h14-text']) {
    it(name, async () => {
      const real = read(name);
      const clip = await ClipTextEncoder.load(planContext(), parseClipTextConfig(real.config), shapesOnly(real.tensors), { format: 'int4', dry: true });
      expect(clip.unused()).toEqual([]);
    });
  }
});
