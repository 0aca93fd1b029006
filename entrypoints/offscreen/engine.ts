/**
 * The engine as the offscreen document holds it: one GpuContext, acquired again only after the device is lost, and
 * one model opened on it (the built-in one or a stored one), whose loaded stages stay on the GPU from one job to the
 * next. Switching models, or the memory mode in the preferences, unloads the open one first. The attention chunk
 * budget of the preferences is applied to the context before each job.
 */
import { adapterName } from '../../engine/gpu/device';
import { GpuContext } from '../../engine/gpu/context';
import { add } from '../../engine/ops/elementwise';
import * as ref from '../../engine/ref/elementwise';
import { StableDiffusion, type MemoryMode, type Progress } from '../../engine/pipeline';
import { BUILTIN_MODEL, BundledModelFiles } from '../../lib/builtin-model';
import { pngDataUrl } from '../../lib/data-url';
import { LIMITS, type EngineStatus, type JobResult, type ModelInfo } from '../../lib/messages';
import { encodeImagePng } from '../../lib/png';
import { SAMPLER_LABELS } from '../../lib/samplers';
import type { JobRequest } from './jobs';
import { storedTuningTable } from './tuner';
import type { ModelService, OpenedModel } from './models';

const MIB = 1024 * 1024;

/** The engine preferences a job runs with (storage/preferences.ts). */
export interface EngineTuning {
  memory: MemoryMode;
  attentionBudgetMiB: number;
}

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
  private model?: { ctx: GpuContext; id: string; memory: MemoryMode; pipeline: Promise<{ sd: StableDiffusion; opened: OpenedModel }> };
  readonly files = new BundledModelFiles(BUILTIN_MODEL, new URL(BUILTIN_MODEL.path, location.origin).href);

  constructor(
    private readonly models: ModelService,
    private readonly tuning: () => Promise<EngineTuning>,
  ) {}

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

  /** `modelId` opened on the current device (again on a new device after a loss), in the stored weight format. */
  async pipeline(modelId: string, mode: MemoryMode): Promise<{ sd: StableDiffusion; opened: OpenedModel }> {
    const ctx = await this.gpu();
    if (this.model?.ctx !== ctx || this.model.id !== modelId || this.model.memory !== mode) {
      this.release();
      const pipeline = this.models.open(modelId, this.files).then(async (opened) => ({
        opened,
        // With the auto-tuner's table for this adapter, when it has run here (entrypoints/offscreen/tuner.ts).
        sd: await storedTuningTable(ctx).then((tuning) => StableDiffusion.open(ctx, opened.files, { format: opened.format, memory: mode, ...(tuning ? { tuning } : {}) })),
      }));
      pipeline.catch(() => {
        if (this.model?.pipeline === pipeline) this.model = undefined;
      });
      this.model = { ctx, id: modelId, memory: mode, pipeline };
    }
    return this.model.pipeline;
  }

  /** Unloads the open model (before another is opened, or when it is deleted). */
  release(modelId?: string): void {
    const model = this.model;
    if (!model || (modelId !== undefined && model.id !== modelId)) return;
    this.model = undefined;
    void model.pipeline.then(({ sd }) => sd.unload(), () => undefined);
  }

  async modelInfo(modelId: string = BUILTIN_MODEL.id): Promise<ModelInfo> {
    // The open model, or the configs of another (opening reads text files only: a running job is not disturbed).
    const { sd, opened } =
      this.model?.id === modelId
        ? await this.model.pipeline
        : await this.models.open(modelId, this.files).then(async (o) => ({ opened: o, sd: await StableDiffusion.open(await this.gpu(), o.files, { format: o.format }) }));
    const native = sd.configs.unet.sampleSize * sd.vaeFactor;
    // Sizes are multiples of the VAE factor (the rule the pipeline's `validate` enforces), within the protocol's
    // bounds. Offered: half to twice the native size.
    const step = sd.vaeFactor;
    const sizes: number[] = [];
    for (let s = Math.max(LIMITS.size.min, Math.round(native / 2 / step) * step); s <= Math.min(2 * native, LIMITS.size.max); s += step) sizes.push(s);
    return { id: modelId, name: opened.name, width: native, height: native, sizes, defaultScheduler: opened.entry?.recommended.scheduler ?? sd.defaultScheduler };
  }

  /**
   * Runs one job; the image comes back as a PNG data URL carrying its parameters. img2img jobs
   * bring their starting image as RGB HWC in [0, 1] at the job's size, and inpainting jobs their mask (one value per
   * pixel, 1 = repaint).
   */
  async generate(
    job: JobRequest & { startImage?: Float32Array; mask?: Float32Array },
    options: { signal: AbortSignal; onProgress(progress: Progress): void },
  ): Promise<Omit<JobResult, 'gallery'>> {
    const started = performance.now();
    const tuning = await this.tuning();
    const { settings, seed } = job;
    const { sd, opened } = await this.pipeline(settings.model, tuning.memory);
    (await this.gpu()).attentionBudgetBytes = tuning.attentionBudgetMiB * MIB;
    const { prompt, negativePrompt, steps, guidance, width, height, scheduler } = settings;
    const strength = job.startImage ? settings.startImage?.strength : undefined;
    const img2img = job.startImage && strength !== undefined ? { initImage: job.startImage, strength, ...(job.mask ? { mask: job.mask } : {}) } : {};
    // A catalog model's scheduler settings (SD-Turbo's trailing timesteps) go with its recommended scheduler.
    const recommended = opened.entry?.recommended;
    const schedulerConfig = recommended?.schedulerConfig && recommended.scheduler === scheduler ? { schedulerConfig: recommended.schedulerConfig } : {};
    const emphasis = settings.emphasis === true;
    const out = await sd.generate({ prompt, negativePrompt, steps, guidance, width, height, seed, scheduler, emphasis, ...schedulerConfig, ...img2img }, options);
    const png = encodeImagePng(out.image, out.width, out.height, {
      prompt,
      negativePrompt,
      steps,
      sampler: SAMPLER_LABELS[out.scheduler],
      guidance,
      seed,
      width: out.width,
      height: out.height,
      model: settings.model,
      ...(strength !== undefined ? { strength } : {}),
      ...('mask' in img2img ? { mask: true } : {}),
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
