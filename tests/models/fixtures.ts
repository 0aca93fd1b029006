/** The reference fixtures of ../shared/fixtures/tiny-sd1: cases and their raw float32 tensors. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseSchedulerConfig } from '../../engine/models/config';
import type { GenerateParams } from '../../engine/pipeline';
import type { SchedulerName } from '../../engine/schedulers/types';

export const FIXTURES = resolve('../shared/fixtures');
export const TINY = join(FIXTURES, 'tiny-sd1');
export const TINY_MODEL = join(TINY, 'model');

export interface TensorRef {
  file: string;
  shape: number[];
}

export interface PipelineCase {
  prompt: string;
  negative_prompt?: string;
  scheduler: string;
  scheduler_config: Record<string, unknown>;
  steps: { t: number; latents: TensorRef }[];
  guidance: number;
  height: number;
  width: number;
  timesteps: number[];
  init_latents: TensorRef;
  image: TensorRef;
  png: string;
}

export interface Cases {
  tokenizer: { text: string; ids: number[] }[];
  text_encoder: { text: string; ids: number[]; hidden: TensorRef }[];
  unet: { timestep: number; sample: TensorRef; encoder_hidden_states: TensorRef; out: TensorRef }[];
  vae_decode: { latents: TensorRef; image: TensorRef }[];
  vae_encode: { image: TensorRef; mean: TensorRef; logvar: TensorRef }[];
  pipeline: PipelineCase[];
}

export const cases: Cases = JSON.parse(readFileSync(join(TINY, 'cases.json'), 'utf8')) as Cases;

export function tensor(ref: TensorRef): Float32Array {
  const bytes = readFileSync(join(TINY, ref.file));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
}

/** NCHW → NHWC for 4-D fixture tensors. */
export function toNhwc(x: Float32Array, [b, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < b!; n++) {
    for (let ch = 0; ch < c!; ch++) {
      for (let i = 0; i < h! * w!; i++) out[(n * h! * w! + i) * c! + ch] = x[(n * c! + ch) * h! * w! + i]!;
    }
  }
  return out;
}

/** NHWC → NCHW for 4-D tensors of the given NCHW shape. */
export function toNchw(x: Float32Array, [b, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < b!; n++) {
    for (let ch = 0; ch < c!; ch++) {
      for (let i = 0; i < h! * w!; i++) out[(n * c! + ch) * h! * w! + i] = x[(n * h! * w! + i) * c! + ch]!;
    }
  }
  return out;
}

/** The scheduler steps that make a case's UNet evaluations: PNDM's PRK warm-up evaluates the UNet once more than its steps. */
export function stepsFor(scheduler: string, evaluations: number): number {
  return scheduler === 'pndm' ? evaluations - 1 : evaluations;
}

/** A pipeline case as the engine's generate parameters, starting from the case's own initial latents. */
export function caseParams(c: PipelineCase): GenerateParams {
  return {
    prompt: c.prompt,
    ...(c.negative_prompt !== undefined ? { negativePrompt: c.negative_prompt } : {}),
    scheduler: c.scheduler as SchedulerName,
    schedulerConfig: parseSchedulerConfig(c.scheduler_config),
    steps: stepsFor(c.scheduler, c.steps.length),
    guidance: c.guidance,
    width: c.width,
    height: c.height,
    seed: 0,
    initLatents: tensor(c.init_latents),
  };
}
