/**
 * The job runner of the offscreen document: it runs the one job the background's queue hands it (the queue itself is
 * the background's, persisted, so it outlives this document) and publishes every change of it — each stage and
 * denoise step (with a preview and an estimate of the time left), cancelling, and its end — as a new version of its
 * `JobState`. Jobs belong to this document, not to the page that asked: closing the popup changes nothing.
 */
import { GenerationCancelledError } from '../../engine/gpu/errors';
import type { Progress } from '../../engine/pipeline';
import type { GenerationSettings, JobResult, JobSource, JobState } from '../../lib/messages';
import { previewDataUrl } from './preview';

/** What a job runs with: the settings as asked, and the seed drawn for it when they asked for a random one. */
export interface JobRequest {
  settings: GenerationSettings;
  seed: number;
  source: JobSource;
}

export type RunJob = (job: JobRequest, options: { signal: AbortSignal; onProgress(progress: Progress): void }) => Promise<JobResult>;

/** A second job handed over while one runs: the background's queue hands out one at a time, so this is a bug there. */
export class RunnerBusyError extends Error {
  override readonly name = 'RunnerBusyError';
}

interface Job {
  state: JobState;
  controller: AbortController;
}

export class JobRunner {
  private running?: Job;
  private finished: JobState | null = null;
  /** The last job's decode time: the best guess for the next one's, which the denoise steps cannot predict. */
  private lastDecodeMs?: number;

  constructor(
    private readonly run: RunJob,
    private readonly publish: (state: JobState) => void,
    /** Called when a job starts and when it ends (the document holds a connection to the background meanwhile). */
    private readonly onBusy: (busy: boolean) => void = () => undefined,
  ) {}

  /** Starts `state` (a queued job) and returns at once; its updates are published. */
  start(state: JobState): void {
    if (this.running) throw new RunnerBusyError(`Job ${this.running.state.jobId} is still running; ${state.jobId} must wait for it.`);
    const job: Job = { state, controller: new AbortController() };
    this.running = job;
    this.onBusy(true);
    void this.execute(job).finally(() => {
      if (!this.running) this.onBusy(false);
    });
  }

  /** Stops the running job at its next step; false when `jobId` is not the running job. */
  cancel(jobId: string): boolean {
    const job = this.running;
    if (job?.state.jobId !== jobId) return false;
    if (job.state.status !== 'cancelling') {
      job.controller.abort();
      this.update(job, { status: 'cancelling', etaMs: null });
    }
    return true;
  }

  state(): { running: JobState | null; finished: JobState | null } {
    return { running: this.running?.state ?? null, finished: this.finished };
  }

  private async execute(job: Job): Promise<void> {
    this.update(job, { status: 'running', progress: { ...job.state.progress, stage: 'text' } });
    const timer = new StageTimer();
    try {
      const result = await this.run(
        { settings: job.state.settings, seed: job.state.seed, source: job.state.source },
        { signal: job.controller.signal, onProgress: (p) => this.progress(job, p, timer) },
      );
      if (result.timings.decode !== undefined) this.lastDecodeMs = result.timings.decode;
      const { total } = job.state.progress;
      // The preview served while the job ran; the image replaces it.
      this.finish(job, { status: 'done', result, etaMs: 0, preview: null, progress: { ...job.state.progress, stage: 'decode', step: 1, steps: 1, done: total } });
    } catch (error) {
      if (error instanceof GenerationCancelledError) {
        this.finish(job, { status: 'cancelled', etaMs: null });
      } else {
        const { name, message } = error instanceof Error ? error : new Error(String(error));
        this.finish(job, { status: 'failed', etaMs: null, error: { name, message } });
      }
    }
  }

  private progress(job: Job, p: Progress, timer: StageTimer): void {
    const now = performance.now();
    timer.mark(p, now);
    const denoiseSteps = p.stage === 'denoise' ? p.steps : job.state.progress.total - 2;
    const total = denoiseSteps + 2;
    const done = p.stage === 'denoise' ? 1 + p.step : p.stage === 'decode' ? 1 + denoiseSteps + p.step : p.step;
    const preview = p.preview ? previewDataUrl(p.preview) : job.state.preview;
    this.update(job, {
      progress: { stage: p.stage, step: p.step, steps: p.steps, done: Math.min(done, total), total },
      preview,
      etaMs: timer.eta(p, now, this.lastDecodeMs),
    });
  }

  private update(job: Job, patch: Partial<JobState>): void {
    // Once cancel was asked, only the end of the job changes the status.
    const status = job.state.status === 'cancelling' && patch.status === undefined ? 'cancelling' : (patch.status ?? job.state.status);
    job.state = { ...job.state, ...patch, status, version: job.state.version + 1, updatedAt: Date.now() };
    this.publish(job.state);
  }

  private finish(job: Job, patch: Partial<JobState>): void {
    // Free before the end is heard: the queue may hand over its next job as soon as it hears it.
    if (this.running === job) this.running = undefined;
    this.update(job, patch);
    this.finished = job.state;
  }
}

/** When the denoise and decode stages began, for the estimate of the time left. */
class StageTimer {
  private denoiseStart?: number;
  private decodeStart?: number;

  mark(p: Progress, now: number): void {
    // The text encoder's end is where the first step begins (loading the UNet, the first time, counts to it).
    if (p.stage === 'text' && p.step === p.steps) this.denoiseStart = now;
    if (p.stage === 'decode' && p.step === 0) this.decodeStart = now;
  }

  /** Milliseconds left: the mean step so far for each step to go, plus the last decode (else one more step). */
  eta(p: Progress, now: number, lastDecodeMs: number | undefined): number | null {
    if (p.stage === 'denoise' && this.denoiseStart !== undefined && p.step > 0) {
      const stepMs = (now - this.denoiseStart) / p.step;
      return Math.round(stepMs * (p.steps - p.step) + (lastDecodeMs ?? stepMs));
    }
    if (p.stage === 'decode' && p.step === 0 && lastDecodeMs !== undefined && this.decodeStart !== undefined) {
      return Math.round(Math.max(0, lastDecodeMs - (now - this.decodeStart)));
    }
    return null;
  }
}
