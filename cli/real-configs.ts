/**
 * The real SD 1.5 and SD 2.1 models as `ModelFiles` made of their configs and checkpoint shapes only
 * (../shared/fixtures/real-configs/): enough for plan mode and dry loads, which read no weight.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParamSource } from '../engine/models/params';
import type { ModelFiles } from '../engine/pipeline';

export const REAL_CONFIGS = '../shared/fixtures/real-configs';

export type RealModel = 'sd15' | 'sd21';

const COMPONENTS: Record<RealModel, Record<'text_encoder' | 'unet' | 'vae', string>> = {
  sd15: { text_encoder: 'clip-vit-l14-text', unet: 'sd15-unet', vae: 'sd-vae' },
  sd21: { text_encoder: 'openclip-vit-h14-text', unet: 'sd21-unet', vae: 'sd-vae' },
};

interface RealConfig {
  config: Record<string, unknown>;
  tensors: Record<string, number[]>;
}

/** A checkpoint's shapes as a ParamSource whose reads fail: only dry loads may use it. */
export function shapesOnly(tensors: Record<string, number[]>): ParamSource {
  const names = Object.keys(tensors);
  return {
    shape: (name) => tensors[name],
    read: (name) => Promise.reject(new Error(`${name}: this checkpoint has shapes only (plan mode loads dry)`)),
    names: () => names,
  };
}

export function realModelFiles(model: RealModel, dir = REAL_CONFIGS): ModelFiles {
  const read = (name: string) => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as RealConfig;
  const parts = COMPONENTS[model];
  return {
    text: (path) => {
      const [component, file] = path.split('/') as [string, string];
      const name = (parts as Record<string, string | undefined>)[component];
      return Promise.resolve(name && file === 'config.json' ? JSON.stringify(read(name).config) : undefined);
    },
    weights: (component) => Promise.resolve(shapesOnly(read(parts[component]).tensors)),
  };
}
