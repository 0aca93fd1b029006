/**
 * The engine as the offscreen document holds it: one GpuContext, acquired again only after the device is lost, and
 * the built-in model opened on it, whose loaded stages stay on the GPU from one job to the next.
 */
import { adapterName } from '../../engine/gpu/device';
import { GpuContext } from '../../engine/gpu/context';
import { add } from '../../engine/ops/elementwise';
import * as ref from '../../engine/ref/elementwise';
import { StableDiffusion, type Progress } from '../../engine/pipeline';
import { BUILTIN_MODEL, BundledModelFiles } from '../../lib/builtin-model';
import { pngDataUrl } from '../../lib/data-url';
import { LIMITS, type EngineStatus, type JobResult, type ModelInfo } from '../../lib/messages';
import { encodeImagePng } from '../../lib/png';
import { SAMPLER_LABELS } from '../../lib/samplers';
import type { JobRequest } from './jobs';
import { storedTuningTable } from './tuner';

// One f32 addition per element, correctly rounded on both sides: anything above f32 epsilon is a broken kernel.
const SELF_CHECK_TOLERANCE = 1e-6;

/** Adds two short vectors on the GPU (seven values: not a multiple of the kernel's four per thread) and compares. */
async function selfCheck(ctx: GpuContext): Promise<EngineStatus['selfCheck']> {
  const a = Float32Array.from([1.5, -2, 3.25, 0, 7e5, -0.125, 1e-3]);
  const b = Float32Array.from([0.5, 4, -1.25, 2, -7, 0.375, 3e-3]);
  const ta = ctx.upload(a, [a.length], 'self-check a');
  const tb = ctx.upload(b, [b.length], 'self-check b');
  const sum = add(ctx, ta, tb);
  try {
    const gpu = await ctx.read(sum);
    const cpu = ref.add(a, b);
    const maxCpu = Math.max(...cpu.map(Math.abs));
    const error = Math.max(...cpu.map((v, i) => Math.abs(gpu[i]! - v))) / maxCpu;
    // NaN and infinity do not survive JSON; they fail the check either way.
    return Number.isFinite(error) ? { passed: error <= SELF_CHECK_TOLERANCE, relativeError: error } : { passed: false, relativeError: null };
  } finally {
    ctx.release(ta, tb, sum);
  }
}

export class Engine {
  private context?: Promise<GpuContext>;
  // Per context: the check's answer cannot change while the device lives, and a page opened during a job must not
  // wait for the GPU queue the job fills.
  private readonly checks = new WeakMap<GpuContext, Promise<EngineStatus['selfCheck']>>();
  private model?: { ctx: GpuContext; pipeline: Promise<StableDiffusion> };
  readonly files = new BundledModelFiles(BUILTIN_MODEL, new URL(BUILTIN_MODEL.path, location.origin).href);

  gpu(): Promise<GpuContext> {
    if (!this.context) {
      const created = GpuContext.create(navigator.gpu);
      const forget = () => {
        if (this.context === created) this.context = undefined;
      };
      // A failed start or a lost device is retried on the next request rather than cached.
      created.then((ctx) => ctx.lost.then(forget), forget);
      this.context = created;
    }
    return this.context;
  }

  async status(): Promise<EngineStatus> {
    const ctx = await this.gpu();
    let check = this.checks.get(ctx);
    if (!check) {
      check = selfCheck(ctx);
      this.checks.set(ctx, check);
    }
    return { adapter: ctx.adapter, adapterName: adapterName(ctx.adapter), selfCheck: await check };
  }

  /** The built-in model on the current device (opened again on a new device after a loss). */
  async pipeline(): Promise<StableDiffusion> {
    const ctx = await this.gpu();
    if (this.model?.ctx !== ctx) {
      // The model is small and kept whole: f32 weights, every stage loaded between jobs.
      // With the auto-tuner's table for this adapter, when it has run here (entrypoints/offscreen/tuner.ts).
      const pipeline = storedTuningTable(ctx).then((tuning) => StableDiffusion.open(ctx, this.files, { format: 'f32', memory: 'fast', ...(tuning ? { tuning } : {}) }));
      pipeline.catch(() => {
        if (this.model?.pipeline === pipeline) this.model = undefined;
      });
      this.model = { ctx, pipeline };
    }
    return this.model.pipeline;
  }

  /** Drops the opened model, so the next job opens it again (with a new tuning table). */
  reopenModel(): void {
    this.model = undefined;
  }

  async modelInfo(): Promise<ModelInfo> {
    const sd = await this.pipeline();
    const native = sd.configs.unet.sampleSize * sd.vaeFactor;
    // The latent grid is halved once per UNet level after the first: sizes are multiples of the VAE factor times that
    // (the rule the pipeline's `validate` enforces). Offered: half to twice the native size.
    const multiple = sd.vaeFactor * 2 ** (sd.configs.unet.blockOutChannels.length - 1);
    const sizes: number[] = [];
    for (let s = Math.max(multiple, Math.round(native / 2 / multiple) * multiple); s <= Math.min(2 * native, LIMITS.size.max); s += multiple) sizes.push(s);
    return { id: BUILTIN_MODEL.id, name: BUILTIN_MODEL.name, width: native, height: native, sizes, defaultScheduler: sd.defaultScheduler };
  }

  /**
   * Runs one job on the built-in model; the image comes back as a PNG data URL carrying its parameters. img2img jobs
   * bring their starting image as RGB HWC in [0, 1] at the job's size.
   */
  async generate(
    job: JobRequest & { startImage?: Float32Array },
    options: { signal: AbortSignal; onProgress(progress: Progress): void },
  ): Promise<Omit<JobResult, 'gallery'>> {
    const started = performance.now();
    const sd = await this.pipeline();
    const { settings, seed } = job;
    const { prompt, negativePrompt, steps, guidance, width, height, scheduler } = settings;
    const strength = job.startImage ? settings.startImage?.strength : undefined;
    const img2img = job.startImage && strength !== undefined ? { initImage: job.startImage, strength } : {};
    const out = await sd.generate({ prompt, negativePrompt, steps, guidance, width, height, seed, scheduler, ...img2img }, options);
    const png = encodeImagePng(out.image, out.width, out.height, {
      prompt,
      negativePrompt,
      steps,
      sampler: SAMPLER_LABELS[out.scheduler],
      guidance,
      seed,
      width: out.width,
      height: out.height,
      model: BUILTIN_MODEL.id,
      ...(strength !== undefined ? { strength } : {}),
    });
    return {
      image: pngDataUrl(png),
      width: out.width,
      height: out.height,
      truncated: out.truncated,
      cutText: out.cutText,
      timings: { ...out.timings, total: performance.now() - started },
    };
  }
}
