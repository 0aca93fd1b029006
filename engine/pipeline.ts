/**
 * Stable Diffusion txt2img and img2img, as diffusers' `StableDiffusionPipeline` / `StableDiffusionImg2ImgPipeline`
 * (and the LCM pipeline for UNets that take the guidance scale as an input) compute them:
 *
 *   text = weigh(clip([negative, prompt]));  latents = noise · σ_init  (img2img: add_noise(vae.encode(image)·s, noise, t₀))
 *   per timestep t:  ε = unet(scale(latents), t, text);  ε = ε_u + g·(ε_c − ε_u);  latents = scheduler.step(ε, t, latents)
 *   image = vae.decode(latents / s) / 2 + 0.5
 *
 * Classifier-free guidance runs the UNet on a batch of two (negative prompt, prompt); guidance ≤ 1 (or an LCM UNet)
 * runs it on the prompt alone. The text's cross-attention keys and values are computed once per generation. The
 * scheduler runs on the CPU on small latent arrays; latents live NHWC (the engine's layout), and the seeded noise is
 * drawn in NCHW order (the layout of the fixtures and of `--init-latents` files) and transposed.
 *
 * Prompt weighting (`emphasis`, off by default: diffusers has none, and the reference fixtures come from it) reads
 * A1111's "(word:1.3)" syntax (engine/tokenizer/emphasis.ts) and scales the encoder's output per token
 * (engine/ops/prompt-weights.ts); a prompt whose weights are all 1 skips the op and conditions exactly as without.
 *
 * Memory modes: 'fast' keeps every stage loaded between generations; 'low' frees the text encoder before the UNet
 * runs and the UNet before the VAE, and loads them again for the next generation. Both give back the pooled
 * buffers a stage used before the next stage runs. engine/plan.ts follows the same order to report a generation's
 * peak memory without a GPU.
 */
import type { GpuContext } from './gpu/context';
import { adapterName } from './gpu/device';
import { GenerationCancelledError, InvalidParameterError } from './gpu/errors';
import type { StorageFormat, Tensor } from './gpu/tensor';
import { blendLatents, latentMask, maskProblem, pasteBack } from './inpaint';
import { ClipTextEncoder } from './models/clip';
import {
  parseClipTextConfig,
  parseSchedulerConfig,
  parseUNetConfig,
  parseVaeConfig,
  schedulerNameOfClass,
  parseModelIndex,
  type ClipTextConfig,
  type SchedulerConfig,
  type UNetConfig,
  type VaeConfig,
} from './models/config';
import type { ParamSource } from './models/params';
import { UNet } from './models/unet';
import { VaeDecoder, VaeEncoder } from './models/vae';
import { createGenerator, createScheduler, isSchedulerName, type SchedulerName } from './schedulers';
import { promptWeights } from './ops/prompt-weights';
import { ClipTokenizer, type WeightedTokens } from './tokenizer/clip';
import { parseEmphasis } from './tokenizer/emphasis';
import { adapterKey, sameAdapter, TableTuning, type TuningTable } from './tune/table';

/** Files of a diffusers pipeline folder, wherever they are stored (a disk folder, IndexedDB). */
export interface ModelFiles {
  /** The text of `path` (e.g. `unet/config.json`), or undefined when the folder has no such file. */
  text(path: string): Promise<string | undefined>;
  /** The weights of a component folder: `text_encoder`, `unet` or `vae`. */
  weights(component: 'text_encoder' | 'unet' | 'vae'): Promise<ParamSource>;
}

export type MemoryMode = 'fast' | 'low';

export interface PipelineOptions {
  /** Storage format of the layer weights. */
  format: StorageFormat;
  memory?: MemoryMode;
  /**
   * The auto-tuner's table for this context's adapter (engine/tune): ops use its configurations for the shapes it
   * has, their defaults elsewhere. It becomes the context's tuning when the pipeline opens.
   */
  tuning?: TuningTable;
}

export interface GenerateParams {
  prompt: string;
  negativePrompt?: string;
  /** Default: the model folder's scheduler class. */
  scheduler?: SchedulerName;
  /** Replaces the model folder's scheduler config (diffusers keys; class defaults fill the rest). */
  schedulerConfig?: SchedulerConfig;
  /** Karras sigmas (dpm++2m, euler). */
  karras?: boolean;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  /** Integer in [0, 2^53). */
  seed: number;
  /** Replaces the seeded noise: unscaled N(0,1) latents, NCHW [1, 4, H/8, W/8] (as diffusers' `latents=`). */
  initLatents?: Float32Array;
  /** img2img: the starting image, RGB HWC in [0, 1], of size width × height. */
  initImage?: Float32Array;
  /** img2img: how much of the schedule to run, in (0, 1]. */
  strength?: number;
  /**
   * Inpainting (with `initImage`): per pixel, width × height, 1 = repaint, 0 = keep the starting image, values
   * between blend (engine/inpaint.ts).
   */
  mask?: Float32Array;
  /**
   * Prompt weighting, A1111's syntax: "(word)" ×1.1, "[word]" ÷1.1, "(word:1.5)", "\(" for a bracket (both prompts).
   * Default off: brackets are text, as in diffusers.
   */
  emphasis?: boolean;
}

export type Stage = 'load' | 'text' | 'encode' | 'denoise' | 'decode';

export interface Progress {
  stage: Stage;
  /** Steps done and total (denoise); 0 / 1 and 1 / 1 around the other stages. */
  step: number;
  steps: number;
  /** Denoise steps: a cheap RGB rendering of the current latents (latent resolution). */
  preview?: { width: number; height: number; rgba: Uint8ClampedArray };
}

export interface GenerateCallbacks {
  onProgress?(progress: Progress): void;
  /** After each denoise step: the timestep and the latents NCHW [1, 4, h, w]. */
  onStep?(index: number, timestep: number, latents: Float32Array): void;
  signal?: AbortSignal;
}

export interface GenerateResult {
  /** RGB HWC in [0, 1]. */
  image: Float32Array;
  width: number;
  height: number;
  /** Final latents before the VAE, NCHW [1, 4, h, w]. */
  latents: Float32Array;
  scheduler: SchedulerName;
  timesteps: number[];
  /** Prompt tokens cut off at the 77-token limit (prompt, negative prompt). */
  truncated: { prompt: number; negativePrompt: number };
  /** The text of the tokens cut off, as the tokenizer saw it (lower-cased, single spaces); '' when nothing was cut. */
  cutText: { prompt: string; negativePrompt: string };
  /** Milliseconds per stage. */
  timings: Partial<Record<Stage, number>>;
}

/** The largest width or height the engine makes: 512 latent pixels a side, 64 times SD 1.5's native area. */
export const MAX_IMAGE_SIZE = 4096;

/**
 * Why an image width or height cannot be made, or undefined. The VAE makes the image from latents 1/`vaeFactor` its
 * size, so sizes are multiples of that (8 for every SD model); the UNet takes any latent size, as diffusers does
 * (odd levels round up when halved, and the upsampling meets the skip connection's size).
 */
export function imageSizeProblem(name: 'width' | 'height', v: number, vaeFactor: number): string | undefined {
  if (!Number.isInteger(v) || v < vaeFactor || v % vaeFactor) {
    const below = Math.max(vaeFactor, Math.floor(v / vaeFactor) * vaeFactor);
    const near = Number.isFinite(v) && v > vaeFactor ? ` (nearest: ${below} or ${below + vaeFactor})` : '';
    return `The ${name} must be a multiple of ${vaeFactor} pixels${near}; got ${v}. The model draws the image at 1/${vaeFactor} of its size and enlarges it ${vaeFactor}×.`;
  }
  if (v > MAX_IMAGE_SIZE) return `The ${name} can be at most ${MAX_IMAGE_SIZE} pixels; got ${v}.`;
  return undefined;
}

export class StableDiffusion {
  private text?: ClipTextEncoder;
  private unet?: UNet;
  private decoder?: VaeDecoder;
  private encoder?: VaeEncoder;

  private constructor(
    private readonly ctx: GpuContext,
    private readonly files: ModelFiles,
    readonly options: Required<Omit<PipelineOptions, 'tuning'>>,
    readonly tokenizer: ClipTokenizer,
    readonly configs: { text: ClipTextConfig; unet: UNetConfig; vae: VaeConfig; scheduler: SchedulerConfig },
    /** The scheduler the model folder names. */
    readonly defaultScheduler: SchedulerName,
  ) {}

  /** Reads configs and the tokenizer; stages load on first use. */
  static async open(ctx: GpuContext, files: ModelFiles, options: PipelineOptions): Promise<StableDiffusion> {
    const need = async (path: string) => {
      const text = await files.text(path);
      if (text === undefined) throw new InvalidParameterError(`The model folder has no ${path}: it is not a diffusers Stable Diffusion pipeline.`);
      return text;
    };
    const index = await files.text('model_index.json');
    const schedulerText = await need('scheduler/scheduler_config.json');
    const schedulerJson = JSON.parse(schedulerText) as { _class_name?: string };
    const className = schedulerJson._class_name ?? (index ? parseModelIndex(index, 'model_index.json').schedulerClass : 'PNDMScheduler');
    const tokenizer = ClipTokenizer.fromFiles({
      vocab: await need('tokenizer/vocab.json'),
      merges: await need('tokenizer/merges.txt'),
      ...(await optional(files, 'tokenizer/tokenizer_config.json', 'tokenizerConfig')),
      ...(await optional(files, 'tokenizer/special_tokens_map.json', 'specialTokensMap')),
    });
    const configs = {
      text: parseClipTextConfig(await need('text_encoder/config.json'), 'text_encoder/config.json'),
      unet: parseUNetConfig(await need('unet/config.json'), 'unet/config.json'),
      vae: parseVaeConfig(await need('vae/config.json'), 'vae/config.json'),
      scheduler: parseSchedulerConfig(schedulerText, 'scheduler/scheduler_config.json'),
    };
    if (options.tuning) {
      if (!sameAdapter(options.tuning.adapter, adapterKey(ctx.adapter))) {
        throw new InvalidParameterError(
          `The tuning table was measured on ${adapterName({ ...options.tuning.adapter, features: ctx.adapter.features, limits: {} })}, not on this GPU (${adapterName(ctx.adapter)}): run the tuner on this GPU or drop the table.`,
        );
      }
      ctx.tuning = new TableTuning(options.tuning);
    }
    // A scheduler class we do not implement: Euler reads every SD scheduler config and suits every SD model.
    return new StableDiffusion(ctx, files, { memory: options.memory ?? 'fast', format: options.format }, tokenizer, configs, schedulerNameOfClass(className) ?? 'euler');
  }

  /** Latent channels and the image-to-latent size factor. */
  get vaeFactor(): number {
    return 2 ** (this.configs.vae.blockOutChannels.length - 1);
  }

  /** Checks parameters before any GPU work; the messages are for users. */
  validate(p: GenerateParams): void {
    for (const [name, v] of [['width', p.width], ['height', p.height]] as const) {
      const problem = imageSizeProblem(name, v, this.vaeFactor);
      if (problem) throw new InvalidParameterError(problem);
    }
    if (!Number.isInteger(p.steps) || p.steps < 1 || p.steps > 1000) throw new InvalidParameterError(`Steps must be a whole number from 1 to 1000; got ${p.steps}.`);
    if (!Number.isFinite(p.guidance) || p.guidance < 0 || p.guidance > 50) throw new InvalidParameterError(`Guidance must be between 0 and 50; got ${p.guidance}.`);
    if (!Number.isSafeInteger(p.seed) || p.seed < 0) throw new InvalidParameterError(`The seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}; got ${p.seed}.`);
    if (p.scheduler !== undefined && !isSchedulerName(p.scheduler)) throw new InvalidParameterError(`Unknown scheduler "${p.scheduler}".`);
    const latentSize = this.configs.unet.inChannels * (p.width / this.vaeFactor) * (p.height / this.vaeFactor);
    if (p.initLatents && p.initLatents.length !== latentSize) {
      throw new InvalidParameterError(`The initial latents hold ${p.initLatents.length} values; a ${p.width}×${p.height} image needs ${latentSize}.`);
    }
    if (p.initImage) {
      if (p.initImage.length !== p.width * p.height * 3) throw new InvalidParameterError(`The starting image must be ${p.width}×${p.height} RGB.`);
      const s = p.strength ?? 0.8;
      if (!(s > 0 && s <= 1)) throw new InvalidParameterError(`Strength must be in (0, 1]; got ${s}.`);
    }
    if (p.mask) {
      if (!p.initImage) throw new InvalidParameterError('A mask says which part of a starting image to repaint: give a starting image with it.');
      const problem = maskProblem(p.mask, p.width, p.height);
      if (problem) throw new InvalidParameterError(problem);
    }
  }

  async generate(p: GenerateParams, callbacks: GenerateCallbacks = {}): Promise<GenerateResult> {
    this.validate(p);
    const { ctx } = this;
    const timings: GenerateResult['timings'] = {};
    const progress = (stage: Stage, step: number, steps: number, preview?: Progress['preview']) =>
      callbacks.onProgress?.({ stage, step, steps, ...(preview ? { preview } : {}) });
    const checkCancel = () => {
      if (callbacks.signal?.aborted) throw new GenerationCancelledError();
    };
    const timed = async <T>(stage: Stage, f: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const result = await f();
      timings[stage] = (timings[stage] ?? 0) + performance.now() - start;
      return result;
    };

    const lcm = this.configs.unet.timeCondProjDim !== null;
    const cfg = p.guidance > 1 && !lcm;
    const h = p.height / this.vaeFactor;
    const w = p.width / this.vaeFactor;
    const channels = this.configs.unet.inChannels;
    const batch = cfg ? 2 : 1;

    // Text.
    progress('text', 0, 1);
    const prompt = this.tokenizePrompt(p.prompt, p.emphasis);
    const negative = this.tokenizePrompt(p.negativePrompt ?? '', p.emphasis);
    const textEncoder = await timed('load', () => this.textEncoder());
    checkCancel();
    const text = await timed('text', async () => {
      const out = this.conditioning(textEncoder, cfg ? [negative, prompt] : [prompt]);
      await ctx.sync();
      return out;
    });
    this.stageDone(() => this.freeText());
    progress('text', 1, 1);

    const unet = await timed('load', () => this.unetStage());
    const kv = unet.crossKV(ctx, text);
    // Given back once: after denoising, or on a cancel or error before that. Released twice, the pool would hand the
    // same buffer to two tensors of a later job.
    let kvHeld = true;
    const releaseKV = () => {
      if (kvHeld) unet.releaseCrossKV(ctx, kv);
      kvHeld = false;
    };
    ctx.release(text);

    try {
      const schedulerName = p.scheduler ?? this.defaultScheduler;
      const scheduler = createScheduler(schedulerName, p.schedulerConfig ?? this.configs.scheduler, p.karras === undefined ? {} : { karras: p.karras });
      const rng = createGenerator(p.seed);
      const img2img = p.initImage !== undefined;
      scheduler.setTimesteps(p.steps, img2img ? { strength: p.strength ?? 0.8 } : {});
      const timesteps = [...scheduler.timesteps];
      if (timesteps.length === 0) throw new InvalidParameterError('With this strength and number of steps no denoising step would run: raise either.');

      let latents: Float32Array;
      let inpaint: { clean: Float32Array; noise: Float32Array; mask: Float32Array } | undefined;
      if (img2img) {
        const clean = await timed('encode', () => this.encodeImage(p.initImage!, p.width, p.height, rng));
        const noise = p.initLatents ? nchwToNhwc(p.initLatents, channels, h, w) : nchwToNhwc(rng.normal(channels * h * w), channels, h, w);
        latents = scheduler.addNoise(clean, noise, timesteps[0]!);
        if (p.mask) inpaint = { clean, noise, mask: latentMask(p.mask, p.width, p.height, this.vaeFactor) };
      } else {
        const noise = p.initLatents ?? rng.normal(channels * h * w);
        latents = nchwToNhwc(noise, channels, h, w).map((v) => v * scheduler.initNoiseSigma);
      }

      await timed('denoise', async () => {
        for (let i = 0; i < timesteps.length; i++) {
          checkCancel();
          const t = timesteps[i]!;
          const input = scheduler.scaleModelInput(latents, t);
          const batched = cfg ? concat(input, input) : input;
          const x = ctx.upload(batched, [batch, h, w, channels], 'latents');
          const out = unet.forward(ctx, x, t, kv, lcm ? p.guidance : undefined);
          ctx.release(x);
          const pred = await ctx.read(out);
          ctx.release(out);
          const n = latents.length;
          const eps = cfg ? pred.subarray(0, n).map((u, j) => u + p.guidance * (pred[n + j]! - u)) : pred;
          latents = scheduler.step(eps, t, latents, rng);
          if (inpaint) {
            // The kept area at the next step's noise level, with the same noise (the scheduler now expects t_{i+1}).
            const next = timesteps[i + 1];
            const known = next === undefined ? inpaint.clean : scheduler.addNoise(inpaint.clean, inpaint.noise, next);
            latents = blendLatents(latents, known, inpaint.mask, channels);
          }
          callbacks.onStep?.(i, t, nhwcToNchw(latents, channels, h, w));
          progress('denoise', i + 1, timesteps.length, latentPreview(latents, w, h, channels));
        }
      });
      releaseKV();
      this.stageDone(() => this.freeUnet());

      checkCancel();
      progress('decode', 0, 1);
      const decoder = await timed('load', () => this.decoderStage());
      checkCancel();
      const image = await timed('decode', async () => {
        const scale = 1 / this.configs.vae.scalingFactor;
        const z = ctx.upload(latents.map((v) => v * scale), [1, h, w, channels], 'latents');
        const out = decoder.decode(ctx, z);
        ctx.release(z);
        const pixels = await ctx.read(out);
        ctx.release(out);
        return pixels.map((v) => Math.min(1, Math.max(0, v / 2 + 0.5)));
      });
      this.stageDone(() => this.freeDecoder());
      const finalImage = p.mask ? pasteBack(image, p.initImage!, p.mask) : image;
      // A cancel asked for while the VAE ran still cancels: the user no longer wants this image.
      checkCancel();
      progress('decode', 1, 1);
      return {
        image: finalImage,
        width: p.width,
        height: p.height,
        latents: nhwcToNchw(latents, channels, h, w),
        scheduler: schedulerName,
        timesteps,
        truncated: { prompt: prompt.truncated, negativePrompt: negative.truncated },
        cutText: { prompt: prompt.cutText, negativePrompt: negative.cutText },
        timings,
      };
    } catch (error) {
      releaseKV();
      throw error;
    }
  }

  /** The ids the text encoder takes and each one's weight (all 1 without emphasis: brackets are then text). */
  tokenizePrompt(text: string, emphasis = false): WeightedTokens {
    if (emphasis) return this.tokenizer.tokenizeWeighted(parseEmphasis(text));
    const plain = this.tokenizer.tokenize(text);
    return { ...plain, weights: plain.ids.map(() => 1) };
  }

  /** The conditioning of one prompt as generate() computes it, [1, 77, hidden] (for tests and tools). */
  async encodePrompt(text: string, options: { emphasis?: boolean } = {}): Promise<Float32Array> {
    const out = this.conditioning(await this.textEncoder(), [this.tokenizePrompt(text, options.emphasis)]);
    const values = await this.ctx.read(out);
    this.ctx.release(out);
    return values;
  }

  /** Text encoder output for one prompt, [1, 77, hidden] (for tests and tools). */
  async encodeText(ids: readonly number[]): Promise<Float32Array> {
    const encoder = await this.textEncoder();
    const t = this.ctx.upload(Float32Array.from(ids), [1, ids.length], 'ids');
    const out = encoder.encode(this.ctx, t);
    this.ctx.release(t);
    const values = await this.ctx.read(out);
    this.ctx.release(out);
    return values;
  }

  /** Encoder output [prompts, 77, hidden], weighted per token where a prompt has a weight other than 1. */
  private conditioning(encoder: ClipTextEncoder, prompts: readonly WeightedTokens[]): Tensor {
    const { ctx } = this;
    const length = prompts[0]!.ids.length;
    const ids = ctx.upload(Float32Array.from(prompts.flatMap((t) => t.ids)), [prompts.length, length], 'ids');
    const z = encoder.encode(ctx, ids);
    ctx.release(ids);
    if (prompts.every((t) => t.weights.every((w) => w === 1))) return z;
    const weights = ctx.upload(Float32Array.from(prompts.flatMap((t) => t.weights)), [prompts.length, length], 'token weights');
    const weighted = promptWeights(ctx, z, weights);
    ctx.release(z, weights);
    return weighted;
  }

  /** Frees every loaded stage. */
  unload(): void {
    this.freeText();
    this.freeUnet();
    this.freeDecoder();
    this.encoder?.destroy();
    this.encoder = undefined;
    this.ctx.pool.trim();
  }

  async textEncoder(): Promise<ClipTextEncoder> {
    this.text ??= await ClipTextEncoder.load(this.ctx, this.configs.text, await this.files.weights('text_encoder'), { format: this.options.format });
    return this.text;
  }

  async unetStage(): Promise<UNet> {
    this.unet ??= await UNet.load(this.ctx, this.configs.unet, await this.files.weights('unet'), { format: this.options.format });
    return this.unet;
  }

  async decoderStage(): Promise<VaeDecoder> {
    this.decoder ??= await VaeDecoder.load(this.ctx, this.configs.vae, await this.files.weights('vae'), { format: this.options.format });
    return this.decoder;
  }

  async encoderStage(): Promise<VaeEncoder> {
    this.encoder ??= await VaeEncoder.load(this.ctx, this.configs.vae, await this.files.weights('vae'), { format: this.options.format });
    return this.encoder;
  }

  /** img2img: image HWC [0,1] → latents NHWC sampled from the encoder's distribution, times the scaling factor. */
  private async encodeImage(image: Float32Array, width: number, height: number, rng: { normal(n: number): Float32Array }): Promise<Float32Array> {
    const encoder = await this.encoderStage();
    const x = this.ctx.upload(image.map((v) => v * 2 - 1), [1, height, width, 3], 'image');
    const moments = encoder.encode(this.ctx, x);
    this.ctx.release(x);
    const m = await this.ctx.read(moments);
    this.ctx.release(moments);
    this.stageDone(() => {
      encoder.destroy();
      this.encoder = undefined;
    });
    const latent = this.configs.vae.latentChannels;
    const pixels = m.length / (2 * latent);
    const noise = rng.normal(pixels * latent);
    const out = new Float32Array(pixels * latent);
    for (let i = 0; i < pixels; i++) {
      for (let c = 0; c < latent; c++) {
        const mean = m[i * 2 * latent + c]!;
        const logvar = Math.min(20, Math.max(-30, m[i * 2 * latent + latent + c]!));
        out[i * latent + c] = (mean + Math.exp(0.5 * logvar) * noise[i * latent + c]!) * this.configs.vae.scalingFactor;
      }
    }
    return out;
  }

  /**
   * The end of a stage: 'low' memory frees the stage's weights; both modes give back the pool's buffers, whose sizes
   * the next stage would mostly not reuse (kept, the UNet's would sit beside the decoder's). Called only between
   * submits (after a read or sync), as `BufferPool.trim` needs.
   */
  private stageDone(free: () => void): void {
    if (this.options.memory === 'low') free();
    this.ctx.pool.trim();
  }

  private freeText(): void {
    this.text?.destroy();
    this.text = undefined;
  }

  private freeUnet(): void {
    this.unet?.destroy();
    this.unet = undefined;
  }

  private freeDecoder(): void {
    this.decoder?.destroy();
    this.decoder = undefined;
  }
}

async function optional<K extends string>(files: ModelFiles, path: string, key: K): Promise<Partial<Record<K, string>>> {
  const text = await files.text(path);
  return text === undefined ? {} : ({ [key]: text } as Record<K, string>);
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export function nchwToNhwc(x: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  const plane = h * w;
  const batch = x.length / (c * plane);
  for (let b = 0; b < batch; b++) {
    for (let ch = 0; ch < c; ch++) for (let i = 0; i < plane; i++) out[(b * plane + i) * c + ch] = x[(b * c + ch) * plane + i]!;
  }
  return out;
}

export function nhwcToNchw(x: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  const plane = h * w;
  const batch = x.length / (c * plane);
  for (let b = 0; b < batch; b++) {
    for (let ch = 0; ch < c; ch++) for (let i = 0; i < plane; i++) out[(b * c + ch) * plane + i] = x[(b * plane + i) * c + ch]!;
  }
  return out;
}

/**
 * Latents → RGB without the VAE: a fixed linear map fitted to SD 1.x/2.x latents (the widely used
 * "latent RGB factors"). Good enough to watch an image form, at latent resolution, for the cost of a few multiplies.
 */
const PREVIEW_FACTORS = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

export function latentPreview(latents: Float32Array, width: number, height: number, channels: number): Progress['preview'] {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) {
      let v = 0;
      for (let c = 0; c < Math.min(channels, 4); c++) v += latents[i * channels + c]! * PREVIEW_FACTORS[c]![k]!;
      rgba[i * 4 + k] = (v + 1) * 127.5;
    }
    rgba[i * 4 + 3] = 255;
  }
  return { width, height, rgba };
}

export type { Tensor };
