/**
 * The job queue of the offscreen document: generations run one at a time, in the order they were asked for, and
 * every change of a job — queued, each stage and denoise step (with a preview and an estimate of the time left),
 * cancelling, and its end — is published as a new version of its `JobState`. Jobs belong to this document, not to
 * the page that asked: closing the popup changes nothing.
 */
import { GenerationCancelledError } from '../../engine/gpu/errors';
import type { Progress } from '../../engine/pipeline';
import type { GenerationSettings, JobResult, JobState } from '../../lib/messages';
import { previewDataUrl } from './preview';

/** What a job runs with: the settings as asked, and the seed drawn for it when they asked for a random one. */
export interface JobRequest {
  settings: GenerationSettings;
  seed: number;
}

export type RunJob = (job: JobRequest, options: { signal: AbortSignal; onProgress(progress: Progress): void }) => Promise<JobResult>;

interface Job {
  state: JobState;
  controller: AbortController;
}

/** Random seeds are 32-bit, like other SD tools': short to read and to type back in. */
function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

export class JobQueue {
  private readonly waiting: Job[] = [];
  private running?: Job;
  private finished?: JobState;
  /** The last job's decode time: the best guess for the next one's, which the denoise steps cannot predict. */
  private lastDecodeMs?: number;

  constructor(
    private readonly run: RunJob,
    private readonly publish: (state: JobState) => void,
    private readonly model: string,
  ) {}

  add(settings: GenerationSettings): JobState {
    const now = Date.now();
    // Text, each step and the decode count one each; the scheduler may take a step more than asked (PLMS), which the
    // first denoise progress corrects.
    const total = settings.steps + 2;
    const job: Job = {
      controller: new AbortController(),
      state: {
        jobId: crypto.randomUUID(),
        createdAt: now,
        version: 0,
        status: 'queued',
        settings,
        seed: settings.seed ?? randomSeed(),
        model: this.model,
        progress: { stage: 'queued', step: 0, steps: 0, done: 0, total },
        preview: null,
        etaMs: null,
        updatedAt: now,
        result: null,
        error: null,
      },
    };
    const queued = job.state;
    this.waiting.push(job);
    this.publish(queued);
    void this.drain();
    return queued;
  }

  /** Stops a queued job at once and a running one at its next step; false when the job is unknown or over. */
  cancel(jobId: string): boolean {
    const index = this.waiting.findIndex((j) => j.state.jobId === jobId);
    if (index >= 0) {
      const [job] = this.waiting.splice(index, 1);
      this.finish(job!, { status: 'cancelled', etaMs: null });
      return true;
    }
    const job = this.running;
    if (job?.state.jobId !== jobId) return false;
    if (job.state.status !== 'cancelling') {
      job.controller.abort();
      this.update(job, { status: 'cancelling', etaMs: null });
    }
    return true;
  }

  current(): JobState | null {
    return this.running?.state ?? this.waiting.at(-1)?.state ?? this.finished ?? null;
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    let job: Job | undefined;
    while ((job = this.waiting.shift())) {
      this.running = job;
      await this.execute(job);
      this.running = undefined;
    }
  }

  private async execute(job: Job): Promise<void> {
    this.update(job, { status: 'running', progress: { ...job.state.progress, stage: 'text' } });
    const timer = new StageTimer();
    try {
      const result = await this.run(
        { settings: job.state.settings, seed: job.state.seed },
        { signal: job.controller.signal, onProgress: (p) => this.progress(job, p, timer) },
      );
      if (result.timings.decode !== undefined) this.lastDecodeMs = result.timings.decode;
      const { total } = job.state.progress;
      this.finish(job, { status: 'done', result, etaMs: 0, progress: { ...job.state.progress, stage: 'decode', step: 1, steps: 1, done: total } });
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
