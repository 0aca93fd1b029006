/**
 * Plan mode: one generation's memory and dispatches, worked out without weights and without GPU work.
 *
 * The real model code runs on a plan device (engine/gpu/plan-device.ts): every stage is loaded dry (checkpoint names
 * and shapes only), and the text encoder, the UNet and the VAE decoder record their ops in the order and with the
 * tensor lifetimes of `StableDiffusion.generate` (engine/pipeline.ts). The buffer pool reuses a buffer as soon as
 * its tensor is released (engine/gpu/buffer-pool.ts), so its peak is the liveness plan of that op sequence, and a
 * run on a GPU with the same model, size and settings holds the same bytes: weights plus pooled intermediates.
 *
 * Reported per stage (text, denoise, decode): the weights loaded, the peak of weights plus pooled buffers, and the
 * dispatches; for the UNet one evaluation's dispatches per op; and the largest single buffer of the generation.
 * Memory 'fast' keeps each stage once loaded (the first generation: later ones hold the same); 'low' frees each
 * stage before the next stage loads. Both give the pool's buffers back between stages.
 */
import { GpuContext } from './gpu/context';
import { createPlanDevice, PLAN_LIMITS, type PlanLimits } from './gpu/plan-device';
import type { OpProfile } from './gpu/profiler';
import type { StorageFormat } from './gpu/tensor';
import { ClipTextEncoder } from './models/clip';
import { parseClipTextConfig, parseUNetConfig, parseVaeConfig } from './models/config';
import { UNet } from './models/unet';
import { VaeDecoder } from './models/vae';
import type { MemoryMode, ModelFiles } from './pipeline';

export interface PlanOptions {
  width: number;
  height: number;
  /** Classifier-free guidance: the UNet runs on a batch of two. */
  guidance: boolean;
  format: StorageFormat;
  memory: MemoryMode;
  /** How 3×3 convolutions are stored and run (see LoadOptions.conv); default 'auto'. */
  conv?: 'auto' | 'direct';
  /** Attention's per-dispatch score budget; default the engine's (128 MiB). */
  attentionBudgetBytes?: number;
  /** The adapter's buffer limits; default a desktop GPU's (PLAN_LIMITS). */
  limits?: PlanLimits;
  /** Text tokens per prompt; default 77. */
  tokens?: number;
  /** UNet evaluations (denoising steps); default 2: from the second on, an evaluation finds the pool as later ones do. */
  steps?: number;
}

export type PlanStage = 'text' | 'denoise' | 'decode';

export interface StagePlan {
  stage: PlanStage;
  /** Bytes of weights loaded while the stage runs (every loaded stage's, in 'fast' mode). */
  weightBytes: number;
  /** The most weights plus pooled buffers held at once during the stage. */
  peakBytes: number;
  dispatches: number;
  /** The largest buffer created during the stage (weights included). */
  largestBuffer: number;
  largestBufferLabel: string;
}

export interface GenerationPlan {
  stages: StagePlan[];
  /** The most GPU memory (weights plus pooled buffers) held at once during the generation. */
  peakBytes: number;
  /** Dispatches of one UNet evaluation, in all and per op. */
  unetDispatches: number;
  unetOps: OpProfile[];
  /** Bytes of the UNet's weights. */
  unetWeightBytes: number;
}

/** Plans one generation of the model in `files` (configs and checkpoint headers are read; no weight is). */
export async function planGeneration(files: ModelFiles, options: PlanOptions): Promise<GenerationPlan> {
  const { device, summary, stats } = createPlanDevice(options.limits ?? PLAN_LIMITS);
  const ctx = GpuContext.fromDevice(device, summary);
  if (options.attentionBudgetBytes !== undefined) ctx.attentionBudgetBytes = options.attentionBudgetBytes;
  const config = async (path: string) => {
    const text = await files.text(path);
    if (text === undefined) throw new Error(`The model has no ${path}`);
    return text;
  };
  const textConfig = parseClipTextConfig(await config('text_encoder/config.json'));
  const unetConfig = parseUNetConfig(await config('unet/config.json'));
  const vaeConfig = parseVaeConfig(await config('vae/config.json'));
  const load = { format: options.format, conv: options.conv ?? 'auto', dry: true } as const;
  const batch = options.guidance && unetConfig.timeCondProjDim === null ? 2 : 1;
  const factor = 2 ** (vaeConfig.blockOutChannels.length - 1);
  const [h, w] = [options.height / factor, options.width / factor];
  const low = options.memory === 'low';
  const stages: StagePlan[] = [];
  let dispatches = 0;
  const stage = async <T>(name: PlanStage, run: (checkpoint: () => void) => Promise<T>): Promise<T> => {
    ctx.resetPeaks();
    stats.largestBuffer = 0;
    let weightBytes = ctx.memory().weightBytes;
    // Dispatches are counted here: the UNet's evaluations reset the profiler to count one at a time.
    const count = () => {
      dispatches += ctx.profiler.dispatches;
      ctx.profiler.reset();
    };
    count();
    const start = dispatches;
    const result = await run(() => {
      count();
      weightBytes = Math.max(weightBytes, ctx.memory().weightBytes);
    });
    ctx.flush();
    count();
    stages.push({
      stage: name,
      weightBytes: Math.max(weightBytes, ctx.memory().weightBytes),
      peakBytes: ctx.memory().peakBytes,
      dispatches: dispatches - start,
      largestBuffer: stats.largestBuffer,
      largestBufferLabel: stats.largestBufferLabel,
    });
    return result;
  };
  // As the pipeline: in 'low' mode a stage's weights go; in both modes the pool's buffers go before the next stage.
  const free = (model: { destroy(): void }) => {
    if (low) model.destroy();
    ctx.pool.trim();
  };

  const text = await stage('text', async (checkpoint) => {
    const encoder = await ClipTextEncoder.load(ctx, textConfig, await files.weights('text_encoder'), load);
    const ids = ctx.upload(new Float32Array(batch * (options.tokens ?? 77)), [batch, options.tokens ?? 77], 'ids');
    const out = encoder.encode(ctx, ids);
    ctx.release(ids);
    ctx.flush();
    checkpoint();
    free(encoder);
    return out;
  });

  let unetOps: OpProfile[] = [];
  let unetDispatches = 0;
  let unetWeightBytes = 0;
  await stage('denoise', async (checkpoint) => {
    const before = ctx.memory().weightBytes;
    const unet = await UNet.load(ctx, unetConfig, await files.weights('unet'), load);
    unetWeightBytes = ctx.memory().weightBytes - before;
    const kv = unet.crossKV(ctx, text);
    ctx.release(text);
    for (let step = 0; step < (options.steps ?? 2); step++) {
      checkpoint();
      const x = ctx.upload(new Float32Array(batch * h * w * unetConfig.inChannels), [batch, h, w, unetConfig.inChannels], 'latents');
      const out = unet.forward(ctx, x, 999, kv, 1);
      ctx.release(x);
      unetDispatches = ctx.profiler.dispatches;
      unetOps = await ctx.profiler.report();
      ctx.flush();
      ctx.release(out);
    }
    unet.releaseCrossKV(ctx, kv);
    checkpoint();
    free(unet);
  });

  await stage('decode', async (checkpoint) => {
    const decoder = await VaeDecoder.load(ctx, vaeConfig, await files.weights('vae'), load);
    const z = ctx.upload(new Float32Array(h * w * vaeConfig.latentChannels), [1, h, w, vaeConfig.latentChannels], 'latents');
    const out = decoder.decode(ctx, z);
    ctx.release(z);
    ctx.flush();
    ctx.release(out);
    checkpoint();
    free(decoder);
  });

  return {
    stages,
    peakBytes: Math.max(...stages.map((s) => s.peakBytes)),
    unetDispatches,
    unetOps,
    unetWeightBytes,
  };
}
