/**
 * GPU faults and cancellation on the tiny SD 1.x fixture at 64×64, through the offscreen document's own Engine and
 * JobRunner (the GPU, the page origin and the fetch of the bundled model provided by Node):
 * - the device destroyed in the middle of a job fails that job with DeviceLostError, whose message says what happened
 *   and what to do; the engine acquires a new device, reloads the model, and the next job succeeds;
 * - a job cancelled before text encoding, in the middle of denoising, or once the VAE stage has begun ends with
 *   GenerationCancelledError and gives back every pooled GPU buffer it took (GpuContext.memory().inUseBytes is what
 *   it was before the job).
 * SwiftShader compiles every pipeline once per device, so the cancellations run on the device the second job compiled.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Engine } from '../../entrypoints/offscreen/engine';
import { JobRunner } from '../../entrypoints/offscreen/jobs';
import { ModelService } from '../../entrypoints/offscreen/models';
import { GenerationCancelledError } from '../../engine/gpu/errors';
import { nodeGpu } from '../../engine/gpu/node-gpu';
import type { GenerateParams, Stage } from '../../engine/pipeline';
import type { GenerationSettings, JobState } from '../../lib/messages';
import { TINY_MODEL } from '../models/fixtures';

const ORIGIN = 'chrome-extension://fixture';
// No guidance (a batch of one) and one step: the cheapest whole generation.
const SETTINGS: GenerationSettings = { prompt: 'a red fox', negativePrompt: '', steps: 1, guidance: 0, width: 64, height: 64, seed: 1, scheduler: 'euler', model: 'tiny-sd1' };
const TIMEOUT = 900_000;

describe('GPU faults and cancellation (offscreen Engine + JobRunner)', () => {
  let engine: Engine;
  beforeAll(async () => {
    vi.stubGlobal('navigator', { gpu: await nodeGpu() });
    vi.stubGlobal('location', { origin: ORIGIN });
    // The bundled model's URLs (models/tiny-sd1/…) served from the fixture folder it is a copy of.
    vi.stubGlobal('fetch', async (url: string) => {
      const path = new URL(url).pathname.replace(/^\/models\/tiny-sd1\//, '');
      return new Response(await readFile(join(TINY_MODEL, path)));
    });
    // The built-in model only: no model store, the default tuning preferences.
    engine = new Engine(new ModelService(() => undefined, () => undefined), async () => ({ memory: 'fast', attentionBudgetMiB: 128 }));
  });
  afterAll(async () => {
    await (await engine.gpu()).destroy();
    vi.unstubAllGlobals();
  });

  it('a device lost mid-job fails it with DeviceLostError; a new device runs the next job', async () => {
    const first = await engine.gpu();
    const ends = new Map<string, (state: JobState) => void>();
    let destroyed = false;
    const runner = new JobRunner(
      async (job, options) => ({ ...(await engine.generate(job, options)), gallery: { error: 'not kept by this test' } }),
      (state) => {
        // Once the text is encoded: loading the UNet and denoising meet a lost device.
        if (!destroyed && state.status === 'running' && state.progress.stage === 'text' && state.progress.step === 1) {
          destroyed = true;
          first.device.destroy();
        }
        if (['done', 'failed', 'cancelled'].includes(state.status)) ends.get(state.jobId)?.(state);
      },
    );
    let jobs = 0;
    const run = async (settings: GenerationSettings) => {
      // The runner lets go of a job just after publishing its end: hand it the next one a task later.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const now = Date.now();
      const job: JobState = {
        jobId: `job-${++jobs}`,
        createdAt: now,
        version: 0,
        status: 'queued',
        source: 'popup',
        cutChars: 0,
        settings,
        seed: settings.seed!,
        model: 'tiny-sd1',
        progress: { stage: 'queued', step: 0, steps: 0, done: 0, total: settings.steps + 2 },
        preview: null,
        etaMs: null,
        updatedAt: now,
        result: null,
        error: null,
      };
      const end = new Promise<JobState>((resolve) => ends.set(job.jobId, resolve));
      runner.start(job);
      return end;
    };

    const lost = await run(SETTINGS);
    expect(destroyed).toBe(true);
    expect(lost.status).toBe('failed');
    expect(lost.error?.name).toBe('DeviceLostError');
    expect(lost.error?.message).toMatch(/The GPU device was lost .*The current job was stopped; the engine will acquire the GPU again/);
    expect(first.isLost).toBe(true);

    const long = `${'a very detailed painting of a red fox, '.repeat(12)}in the snow`;
    const next = await run({ ...SETTINGS, prompt: long });
    expect(next.status, next.error?.message).toBe('done');
    expect(next.result?.image).toMatch(/^data:image\/png;base64,/);
    // The job says what the model did not read of the long prompt.
    expect(next.result?.truncated.prompt).toBeGreaterThan(0);
    expect(long.endsWith(next.result!.cutText.prompt)).toBe(true);
    const second = await engine.gpu();
    expect(second).not.toBe(first);
    expect(second.isLost).toBe(false);
  }, TIMEOUT);

  it('cancelling before text encoding, mid-denoise or in the VAE stage gives every pooled buffer back', async () => {
    const ctx = await engine.gpu();
    const { sd } = await engine.pipeline('tiny-sd1', 'fast');
    const params: GenerateParams = { ...SETTINGS, steps: 2, seed: 2 };
    const cancelAt = async (stage: Stage, step: number) => {
      const before = ctx.memory().inUseBytes;
      const controller = new AbortController();
      const onProgress = (p: { stage: Stage; step: number }) => p.stage === stage && p.step === step && controller.abort();
      await expect(sd.generate(params, { signal: controller.signal, onProgress })).rejects.toBeInstanceOf(GenerationCancelledError);
      await ctx.sync();
      return ctx.memory().inUseBytes - before;
    };
    expect(await cancelAt('text', 0)).toBe(0);
    expect(await cancelAt('denoise', 1)).toBe(0);
    expect(await cancelAt('decode', 0)).toBe(0);
    // The pool is intact: the same engine still generates, and gives back what that job took too.
    const before = ctx.memory().inUseBytes;
    expect((await sd.generate(params)).image.length).toBe(64 * 64 * 3);
    expect(ctx.memory().inUseBytes).toBe(before);
  }, TIMEOUT);
});
