/**
 * The models the extension offers ready to install, and entries for any other diffusers SD 1.x/2.x pipeline on the
 * Hugging Face hub. Sizes are those of the fp16 files (what is downloaded when the repository has them) unless
 * stated; each component's checkpoint candidates are tried in order, so a repository without fp16 variants falls
 * back to its full-precision files.
 */
import type { SchedulerConfig, SchedulerName } from '../engine/schedulers';
import type { Component } from './db';
import { InvalidRepoIdError } from './errors';

export interface Recommended {
  steps: number;
  guidance: number;
  /** Undefined: the scheduler the model folder names. */
  scheduler?: SchedulerName;
  /** Keys replacing the folder's scheduler config (diffusers names). */
  schedulerConfig?: SchedulerConfig;
  width: number;
  height: number;
}

export interface CatalogEntry {
  /** The model's id in the store. */
  id: string;
  name: string;
  repo: string;
  revision: string;
  description: string;
  /** Checkpoint paths per component, the preferred first. */
  weights: Readonly<Record<Component, readonly string[]>>;
  /** Download size in bytes, approximate; undefined for repositories not in the catalog. */
  approxBytes?: number;
  license: string;
  recommended: Recommended;
}

/** fp16 variant first, then the full file: the diffusers `variant="fp16"` naming. */
export const WEIGHT_CANDIDATES: Readonly<Record<Component, readonly string[]>> = {
  text_encoder: ['text_encoder/model.fp16.safetensors', 'text_encoder/model.safetensors'],
  unet: ['unet/diffusion_pytorch_model.fp16.safetensors', 'unet/diffusion_pytorch_model.safetensors'],
  vae: ['vae/diffusion_pytorch_model.fp16.safetensors', 'vae/diffusion_pytorch_model.safetensors'],
};

const GB = 1e9;

export const DEFAULT_MODEL_ID = 'stabilityai/sd-turbo';

export const CATALOG: readonly CatalogEntry[] = [
  {
    id: 'stabilityai/sd-turbo',
    name: 'SD-Turbo',
    repo: 'stabilityai/sd-turbo',
    revision: 'main',
    description: 'SD 2.1 distilled for one-step generation (adversarial diffusion distillation): an image per UNet pass, no guidance.',
    weights: WEIGHT_CANDIDATES,
    // text encoder 0.68 GB + UNet 1.73 GB + VAE 0.17 GB
    approxBytes: 2.58 * GB,
    license: "Stability AI licence (see the model card): free for non-commercial use; commercial use needs Stability AI's terms.",
    recommended: { steps: 1, guidance: 0, scheduler: 'euler', schedulerConfig: { timestep_spacing: 'trailing' }, width: 512, height: 512 },
  },
  {
    id: 'stable-diffusion-v1-5/stable-diffusion-v1-5',
    name: 'Stable Diffusion 1.5',
    repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5',
    revision: 'main',
    description: 'The classic 512×512 model with the largest ecosystem of fine-tunes.',
    weights: WEIGHT_CANDIDATES,
    // text encoder 0.25 GB + UNet 1.72 GB + VAE 0.17 GB
    approxBytes: 2.13 * GB,
    license: 'CreativeML OpenRAIL-M: use restrictions apply (see the model card).',
    recommended: { steps: 25, guidance: 7.5, scheduler: 'dpm++2m', width: 512, height: 512 },
  },
  {
    id: 'stabilityai/stable-diffusion-2-1-base',
    name: 'Stable Diffusion 2.1 base',
    repo: 'stabilityai/stable-diffusion-2-1-base',
    revision: 'main',
    description: 'SD 2.1 at 512×512 with the OpenCLIP ViT-H text encoder.',
    weights: WEIGHT_CANDIDATES,
    approxBytes: 2.58 * GB,
    license: 'CreativeML Open RAIL++-M: use restrictions apply (see the model card).',
    recommended: { steps: 25, guidance: 7.5, scheduler: 'dpm++2m', width: 512, height: 512 },
  },
  {
    id: 'SimianLuo/LCM_Dreamshaper_v7',
    name: 'LCM Dreamshaper v7',
    repo: 'SimianLuo/LCM_Dreamshaper_v7',
    revision: 'main',
    description: 'Dreamshaper v7 (an SD 1.5 fine-tune) distilled into a latent consistency model: good images in 4 steps.',
    weights: WEIGHT_CANDIDATES,
    // The full-precision files (text encoder 0.49 GB + UNet 3.44 GB + VAE 0.33 GB); fp16 variants, where the
    // repository has them, are fetched instead at about half the size.
    approxBytes: 4.27 * GB,
    license: 'MIT on the model card (the base model, Dreamshaper v7, is CreativeML OpenRAIL-M).',
    recommended: { steps: 4, guidance: 8, scheduler: 'lcm', width: 768, height: 768 },
  },
];

/** Hugging Face repository names: letters, digits, `-`, `_`, `.`; not starting or ending with `-`/`.`; ≤ 96 each. */
const REPO_PART = /^(?![-.])[A-Za-z0-9._-]{1,96}(?<![-.])$/;

export function isRepoId(repoId: string): boolean {
  const parts = repoId.split('/');
  return parts.length === 2 && parts.every((p) => REPO_PART.test(p) && !p.includes('--') && !p.includes('..'));
}

/**
 * The catalog entry for `repoId`, or a new one for any diffusers SD 1.x/2.x pipeline repository (whether it is one
 * shows when its configs are fetched). Throws `InvalidRepoIdError` for ids not of the form `owner/name`.
 */
export function hubModel(repoId: string, revision = 'main'): CatalogEntry {
  const id = repoId.trim();
  if (!isRepoId(id)) throw new InvalidRepoIdError(repoId);
  const known = CATALOG.find((e) => e.repo === id);
  if (known && revision === known.revision) return known;
  return {
    id: revision === 'main' ? id : `${id}@${revision}`,
    name: id.split('/')[1]!,
    repo: id,
    revision,
    description: `Stable Diffusion pipeline from huggingface.co/${id}.`,
    weights: WEIGHT_CANDIDATES,
    license: 'See the model card on huggingface.co: the licence is the repository owner’s.',
    recommended: { steps: 25, guidance: 7.5, width: 512, height: 512 },
  };
}
