/**
 * The built-in default model, shipped inside the extension (`public/models/`, copied into the build by WXT) so that
 * generation works offline with nothing installed, and its files read over the extension's own URLs as the engine's
 * `ModelFiles`.
 *
 * It is the project's test pipeline (`../shared/fixtures/tiny-sd1/model`): Stable Diffusion 1.x's architecture,
 * scaled down to 13 MB with random weights, so its images are noise — but exactly the noise the reference
 * implementation computes, which makes it the end-to-end tests' model as well.
 */
import { EngineError } from '../engine/gpu/errors';
import { openSafetensors } from '../engine/io/safetensors';
import type { ParamSource } from '../engine/models/params';
import { safetensorsParams } from '../engine/models/weights-source';
import type { ModelFiles } from '../engine/pipeline';

type Component = 'text_encoder' | 'unet' | 'vae';

export interface BundledModel {
  /** Short name, written into the PNG parameters. */
  id: string;
  name: string;
  /** Folder under the extension's root. */
  path: string;
  /** Every text file of the folder (configs, tokenizer), relative to it. */
  textFiles: readonly string[];
  weightFiles: Readonly<Record<Component, string>>;
}

export const BUILTIN_MODEL: BundledModel = {
  id: 'tiny-sd1',
  name: 'Tiny SD 1 (built-in test model)',
  path: 'models/tiny-sd1/',
  textFiles: [
    'model_index.json',
    'scheduler/scheduler_config.json',
    'text_encoder/config.json',
    'tokenizer/merges.txt',
    'tokenizer/special_tokens_map.json',
    'tokenizer/tokenizer_config.json',
    'tokenizer/vocab.json',
    'unet/config.json',
    'vae/config.json',
  ],
  weightFiles: {
    text_encoder: 'text_encoder/model.safetensors',
    unet: 'unet/diffusion_pytorch_model.safetensors',
    vae: 'vae/diffusion_pytorch_model.safetensors',
  },
};

/** A file the extension ships could not be read: the installation is damaged. */
export class BundledFileError extends EngineError {
  constructor(url: string, detail: string) {
    super(`The extension could not read its own file ${url} (${detail}). Reinstall the extension.`);
  }
}

/** A bundled model's folder, read with `fetch` from `baseUrl` (the extension's URL of `model.path`). */
export class BundledModelFiles implements ModelFiles {
  private readonly weightSources = new Map<Component, Promise<ParamSource>>();

  constructor(
    readonly model: BundledModel,
    private readonly baseUrl: string,
  ) {}

  async text(path: string): Promise<string | undefined> {
    return this.model.textFiles.includes(path) ? (await this.fetch(path)).text() : undefined;
  }

  /** The whole file as a Blob (the browser keeps it out of the JS heap); tensors are read from it one by one. */
  weights(component: Component): Promise<ParamSource> {
    let source = this.weightSources.get(component);
    if (!source) {
      const path = this.model.weightFiles[component];
      source = this.fetch(path)
        .then((response) => response.blob())
        .then((blob) => openSafetensors(blob, `${this.model.id}/${path}`))
        .then(safetensorsParams);
      // A failed read is tried again next time rather than remembered.
      const attempt = source;
      attempt.catch(() => {
        if (this.weightSources.get(component) === attempt) this.weightSources.delete(component);
      });
      this.weightSources.set(component, attempt);
    }
    return source;
  }

  private async fetch(path: string): Promise<Response> {
    const url = new URL(path, this.baseUrl).href;
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new BundledFileError(url, (error as Error).message);
    }
    if (!response.ok) throw new BundledFileError(url, `HTTP ${response.status}`);
    return response;
  }
}
