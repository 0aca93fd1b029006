/**
 * The shapes a model's tunable ops are called with, found by running the model where nothing runs: each stage is
 * loaded dry (names and shapes only, no weight read) on a plan device (engine/gpu/plan-device.ts) whose context
 * carries a `ShapeRecorder` as its tuning, so every GEMM, convolution and attention call, and every convolution
 * weight's algorithm decision, reports its shape and runs its default. A full-size SD 1.5 model is recorded in well
 * under a second without a GPU.
 */
import { GpuContext } from '../gpu/context';
import { createPlanDevice, type PlanLimits } from '../gpu/plan-device';
import type { StorageFormat } from '../gpu/tensor';
import { ClipTextEncoder } from '../models/clip';
import { parseClipTextConfig, parseUNetConfig, parseVaeConfig } from '../models/config';
import { UNet } from '../models/unet';
import { VaeDecoder } from '../models/vae';
import { imageSizeProblem, type ModelFiles } from '../pipeline';
import { InvalidParameterError } from '../gpu/errors';
import { shapeKey, type AttentionChoice, type AttentionShape, type ConvShape, type ConvWeightShape, type GemmShape, type OpTuning, type TunableShape } from './shapes';

export interface RecordedShape {
  shape: TunableShape;
  key: string;
  /** Calls with this shape per model run (a UNet evaluation counts once per step, see `recordModelShapes`). */
  count: number;
}

/** An `OpTuning` that answers nothing (every op runs its default) and notes each call's shape. */
export class ShapeRecorder implements OpTuning {
  private readonly seen = new Map<string, RecordedShape>();
  /** Multiplies the counts of calls recorded from now on (e.g. the UNet runs once per step). */
  weight = 1;

  private note(shape: TunableShape): undefined {
    const key = shapeKey(shape);
    const entry = this.seen.get(key);
    if (entry) entry.count += this.weight;
    else this.seen.set(key, { shape, key, count: this.weight });
    return undefined;
  }

  gemm(shape: GemmShape): undefined {
    return this.note(shape);
  }

  conv(shape: ConvShape): undefined {
    return this.note(shape);
  }

  convAlgorithm(shape: ConvWeightShape): undefined {
    return this.note(shape);
  }

  attention(shape: AttentionShape): AttentionChoice | undefined {
    return this.note(shape);
  }

  shapes(): RecordedShape[] {
    return [...this.seen.values()];
  }
}

export interface RecordOptions {
  width: number;
  height: number;
  format: StorageFormat;
  /** Classifier-free guidance: the text encoder and the UNet run on a batch of two. Default true. */
  guidance?: boolean;
  /** UNet evaluations per image: weighs the UNet's shapes against the other stages'. Default 20. */
  steps?: number;
  /**
   * The buffer limits of the adapter being tuned (default: a desktop adapter's). They decide whether the VAE runs on
   * row bands, whose convolutions have other shapes than the whole image's.
   */
  limits?: PlanLimits;
}

/** Every tunable op call of one txt2img generation of the model in `files` at the given size. */
export async function recordModelShapes(files: ModelFiles, options: RecordOptions): Promise<RecordedShape[]> {
  const need = async (path: string) => {
    const text = await files.text(path);
    if (text === undefined) throw new InvalidParameterError(`The model folder has no ${path}: it is not a diffusers Stable Diffusion pipeline.`);
    return text;
  };
  const textConfig = parseClipTextConfig(await need('text_encoder/config.json'), 'text_encoder/config.json');
  const unetConfig = parseUNetConfig(await need('unet/config.json'), 'unet/config.json');
  const vaeConfig = parseVaeConfig(await need('vae/config.json'), 'vae/config.json');
  const vaeFactor = 2 ** (vaeConfig.blockOutChannels.length - 1);
  for (const [name, v] of [['width', options.width], ['height', options.height]] as const) {
    const problem = imageSizeProblem(name, v, vaeFactor);
    if (problem) throw new InvalidParameterError(problem);
  }
  const batch = options.guidance === false || unetConfig.timeCondProjDim !== null ? 1 : 2;
  const h = options.height / vaeFactor;
  const w = options.width / vaeFactor;

  const { device, summary } = createPlanDevice(options.limits);
  const ctx = GpuContext.fromDevice(device, summary);
  const recorder = new ShapeRecorder();
  ctx.tuning = recorder;
  const load = { format: options.format, dry: true };

  const clip = await ClipTextEncoder.load(ctx, textConfig, await files.weights('text_encoder'), load);
  const ids = ctx.empty([batch, textConfig.maxPositionEmbeddings], 'ids');
  const text = clip.encode(ctx, ids);
  ctx.release(ids);

  const unet = await UNet.load(ctx, unetConfig, await files.weights('unet'), load);
  const kv = unet.crossKV(ctx, text);
  ctx.release(text);
  recorder.weight = options.steps ?? 20;
  const sample = ctx.empty([batch, h, w, unetConfig.inChannels], 'latents');
  ctx.release(unet.forward(ctx, sample, 999, kv, unetConfig.timeCondProjDim ? 7.5 : undefined), sample);
  unet.releaseCrossKV(ctx, kv);
  recorder.weight = 1;

  const decoder = await VaeDecoder.load(ctx, vaeConfig, await files.weights('vae'), load);
  const z = ctx.empty([1, h, w, vaeConfig.latentChannels], 'latents');
  ctx.release(decoder.decode(ctx, z), z);
  await ctx.destroy();
  return recorder.shapes();
}

export interface UNetRecordOptions {
  /** Latent batch (2 with classifier-free guidance), height and width. */
  batch: number;
  height: number;
  width: number;
  /** Tokens of the text the cross-attention reads (77 for CLIP). */
  textTokens: number;
  format: StorageFormat;
  /** The buffer limits of the adapter being tuned (default: a desktop adapter's): they size the attention's chunks. */
  limits?: PlanLimits;
}

/**
 * Every tunable op call of one UNet evaluation (its cross-attention keys/values included) of the UNet alone in
 * `files` (unet/config.json and its weights): for a folder that holds only a UNet, such as the bench model
 * ../shared/bench/bench-unet, whose benchmark times exactly such evaluations.
 */
export async function recordUNetShapes(files: ModelFiles, options: UNetRecordOptions): Promise<RecordedShape[]> {
  const text = await files.text('unet/config.json');
  if (text === undefined) throw new InvalidParameterError('The model folder has no unet/config.json: it is not a diffusers UNet.');
  const config = parseUNetConfig(text, 'unet/config.json');
  for (const [name, v] of [['batch', options.batch], ['latent height', options.height], ['latent width', options.width], ['text length', options.textTokens]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidParameterError(`The ${name} must be a positive integer; got ${v}.`);
  }
  const { device, summary } = createPlanDevice(options.limits);
  const ctx = GpuContext.fromDevice(device, summary);
  const recorder = new ShapeRecorder();
  ctx.tuning = recorder;
  const unet = await UNet.load(ctx, config, await files.weights('unet'), { format: options.format, dry: true });
  const states = ctx.empty([options.batch, options.textTokens, config.crossAttentionDim], 'text');
  const kv = unet.crossKV(ctx, states);
  const sample = ctx.empty([options.batch, options.height, options.width, config.inChannels], 'latents');
  ctx.release(unet.forward(ctx, sample, 999, kv, config.timeCondProjDim ? 7.5 : undefined), sample, states);
  unet.releaseCrossKV(ctx, kv);
  await ctx.destroy();
  return recorder.shapes();
}
