/**
 * A diffusers pipeline folder on disk as the engine's `ModelFiles`: configs and tokenizer files as text, weights
 * through the streaming safetensors reader (a component's file is opened once and read tensor by tensor).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidParameterError } from '../engine/gpu/errors';
import { NodeFileSource } from '../engine/io/node-file';
import { openSafetensors } from '../engine/io/safetensors';
import type { ParamSource } from '../engine/models/params';
import { safetensorsParams } from '../engine/models/weights-source';
import type { ModelFiles } from '../engine/pipeline';

const WEIGHT_FILES: Record<string, readonly string[]> = {
  text_encoder: ['model.safetensors', 'model.fp16.safetensors'],
  unet: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
  vae: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
};

export class ModelFolder implements ModelFiles {
  private readonly open = new Map<string, Promise<{ source: NodeFileSource; params: ParamSource }>>();

  constructor(readonly path: string) {
    if (!existsSync(join(path, 'model_index.json')) && !existsSync(join(path, 'unet'))) {
      throw new InvalidParameterError(`${path} is not a diffusers model folder (no model_index.json or unet/).`);
    }
  }

  async text(path: string): Promise<string | undefined> {
    const full = join(this.path, path);
    return existsSync(full) ? readFile(full, 'utf8') : undefined;
  }

  weights(component: 'text_encoder' | 'unet' | 'vae'): Promise<ParamSource> {
    let entry = this.open.get(component);
    if (!entry) {
      entry = (async () => {
        const name = WEIGHT_FILES[component]!.find((f) => existsSync(join(this.path, component, f)));
        if (!name) throw new InvalidParameterError(`${join(this.path, component)} has no ${WEIGHT_FILES[component]![0]}.`);
        const source = await NodeFileSource.open(join(this.path, component, name));
        return { source, params: safetensorsParams(await openSafetensors(source, `${component}/${name}`)) };
      })();
      this.open.set(component, entry);
    }
    return entry.then((e) => e.params);
  }

  async close(): Promise<void> {
    for (const entry of this.open.values()) await (await entry).source.close();
    this.open.clear();
  }
}
