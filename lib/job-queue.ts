/**
 * The job queue, as the background service worker keeps it: every generation asked for — from the popup or the
 * context menu — waits here in the order it was asked for and is handed to the runner (the offscreen document) one at
 * a time. The queue lives in persistent storage (`chrome.storage.session` in the extension), not in the worker's
 * memory: Chrome stops an idle service worker at any time, and the offscreen document may be closed or crash, and
 * neither may lose a queued job or leave one "running" for ever.
 *
 * The runner owns a job while it runs and publishes its updates; the queue applies them (a later version only) and,
 * when a job ends, hands over the next. Of the jobs that ended it keeps the last one, for a page that opens later,
 * and the failed ones until the user dismisses them or starts another job from the popup: a failure must not vanish
 * behind the next job. Whenever the queue wakes up or the runner's connection drops, `check` asks the
 * runner what it runs: a job the queue believes running that the runner does not know failed with `EngineStoppedError`.
 *
 * Plain TypeScript: storage and runner are passed in, so the tests run it in Node.
 */
import type { GenerationSettings, JobSource, JobState } from './messages';
import { isActive } from './messages';

/** The name of the connection the runner holds to the background while a job runs. */
export const RUNNER_PORT = 'job-runner';

/** The runner lost a job: its document was closed or crashed while the job ran. */
export class EngineStoppedError extends Error {
  override readonly name = 'EngineStoppedError';
  constructor() {
    super(
      'The engine stopped while it was making this image (its page was closed or crashed, for example when the browser ran short of memory). ' +
        'Generate it again; if this repeats, choose a smaller size.',
    );
  }
}

export interface QueueStorage {
  load(): Promise<JobState[] | undefined>;
  save(jobs: JobState[]): Promise<void>;
}

export interface QueueRunner {
  /** What the runner runs and last finished; null when there is no runner (no offscreen document). */
  state(): Promise<{ running: JobState | null; finished: JobState | null } | null>;
  /** Hands `job` to the runner (creating it when needed); resolves once it was taken. */
  start(job: JobState): Promise<void>;
  /** Asks the runner to stop `jobId`; false when it does not run it. */
  cancel(jobId: string): Promise<boolean>;
}

export interface QueueHooks {
  /** The queue changed a job itself (queued, started, cancelled while waiting, lost): pages show it. */
  publish(job: JobState): void;
  /** The stored queue changed, by the queue or by a runner update (the badge shows it). */
  saved(jobs: readonly JobState[]): void;
  /** A job ended: done, cancelled or failed. */
  finished(job: JobState): void;
}

/** Random seeds are 32-bit, like other SD tools': short to read and to type back in. */
function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** The next version of `job`, changed by the queue itself. */
function bump(job: JobState, patch: Partial<JobState>): JobState {
  return { ...job, ...patch, version: job.version + 1, updatedAt: Date.now() };
}

const isRunning = (job: JobState) => job.status === 'running' || job.status === 'cancelling';

/** Failed jobs kept at most: a model that cannot load fails every queued job, and each keeps its preview. */
export const KEPT_FAILURES = 3;

export class JobQueue {
  /**
   * The stored queue: the jobs that ended and are kept (failed ones not dismissed, then the last to end), in the
   * order they ended, then the jobs to finish, in order.
   */
  private jobs?: JobState[];
  /** Every operation runs after the one before it, so two events never interleave their read-modify-write. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly storage: QueueStorage,
    private readonly runner: QueueRunner,
    private readonly hooks: QueueHooks,
  ) {}

  /** Queues a generation; returns it as queued. */
  add(settings: GenerationSettings, source: JobSource, cutChars = 0): Promise<JobState> {
    return this.serial(async (jobs) => {
      // Starting another from the popup, where the failures were shown, leaves them behind.
      if (source === 'popup') jobs.splice(0, jobs.length, ...jobs.filter((j) => j.status !== 'failed'));
      const now = Date.now();
      // Text, each step and the decode count one each; the scheduler may take a step more than asked (PLMS), which
      // the first denoise progress corrects.
      const total = settings.steps + 2;
      const job: JobState = {
        jobId: crypto.randomUUID(),
        // Strictly increasing, so the queue's order is the order of createdAt even within one millisecond.
        createdAt: Math.max(now, (jobs.at(-1)?.createdAt ?? 0) + 1),
        version: 0,
        status: 'queued',
        source,
        cutChars,
        settings,
        seed: settings.seed ?? randomSeed(),
        model: settings.model,
        progress: { stage: 'queued', step: 0, steps: 0, done: 0, total },
        preview: null,
        etaMs: null,
        updatedAt: now,
        result: null,
        error: null,
      };
      jobs.push(job);
      await this.save(jobs, job);
      await this.dispatch(jobs);
      return job;
    });
  }

  /** Cancels a queued job at once and asks the runner to stop a running one; false when it is unknown or over. */
  cancel(jobId: string): Promise<boolean> {
    return this.serial(async (jobs) => {
      const job = jobs.find((j) => j.jobId === jobId);
      if (!job || !isActive(job)) return false;
      if (job.status === 'queued' || !(await this.runner.cancel(jobId))) {
        // Queued, or running in a runner that no longer has it: either way it ends here, as the user asked.
        await this.end(jobs, bump(job, { status: 'cancelled', etaMs: null }));
        await this.dispatch(jobs);
      }
      return true;
    });
  }

  /** Forgets a failed job the user has read; false when no failed job `jobId` is kept. */
  dismiss(jobId: string): Promise<boolean> {
    return this.serial(async (jobs) => {
      const index = jobs.findIndex((j) => j.jobId === jobId && j.status === 'failed');
      if (index < 0) return false;
      jobs.splice(index, 1);
      await this.persist(jobs);
      return true;
    });
  }

  /** The running job, else the first queued one, else the last finished one; null when there was none. */
  current(): Promise<JobState | null> {
    return this.serial(async (jobs) => jobs.find(isRunning) ?? jobs.find(isActive) ?? jobs.filter((j) => !isActive(j)).at(-1) ?? null);
  }

  list(): Promise<JobState[]> {
    return this.serial(async (jobs) => [...jobs]);
  }

  /** A job update the runner published: applied when it is news about a job still to finish. */
  update(next: JobState): Promise<void> {
    return this.serial((jobs) => this.apply(jobs, next));
  }

  /**
   * Reconciles the queue with the runner (on waking up, and when the runner's connection dropped): a running job
   * the runner finished meanwhile takes its end, one it does not know has failed; then the next job starts.
   */
  check(): Promise<void> {
    return this.serial(async (jobs) => {
      await this.reconcile(jobs);
      await this.dispatch(jobs);
    });
  }

  private serial<T>(body: (jobs: JobState[]) => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      if (!this.jobs) {
        this.jobs = (await this.storage.load()) ?? [];
        // A fresh worker knows nothing of what happened while it was stopped.
        await this.reconcile(this.jobs);
        await this.dispatch(this.jobs);
      }
      return body(this.jobs);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async reconcile(jobs: JobState[]): Promise<void> {
    const running = jobs.find(isRunning);
    if (!running) return;
    const runner = await this.runner.state();
    const known = [runner?.running, runner?.finished].find((j) => j?.jobId === running.jobId);
    if (known) await this.apply(jobs, known);
    else await this.end(jobs, bump(running, { status: 'failed', etaMs: null, error: { name: 'EngineStoppedError', message: new EngineStoppedError().message } }));
  }

  private async apply(jobs: JobState[], next: JobState): Promise<void> {
    const stored = jobs.find((j) => j.jobId === next.jobId);
    // A job that already ended here (failed as lost, say) keeps that end; an older version is stale.
    if (!stored || !isActive(stored) || next.version <= stored.version) return;
    if (isActive(next)) {
      jobs[jobs.indexOf(stored)] = next;
      await this.persist(jobs);
      return;
    }
    await this.end(jobs, next, false);
    await this.dispatch(jobs);
  }

  /**
   * Records `over` (a new version of a job, ended) as the last finished job, after the failures kept and ahead of the
   * active jobs. The runner's own updates were published by the runner; the queue's go out from here.
   */
  private async end(jobs: JobState[], over: JobState, publish = true): Promise<void> {
    const active = jobs.filter((j) => isActive(j) && j.jobId !== over.jobId);
    const failed = jobs.filter((j) => j.status === 'failed' && j.jobId !== over.jobId);
    const ended = [...failed, over];
    // Over the limit, the oldest failures go.
    const excess = ended.filter((j) => j.status === 'failed').length - KEPT_FAILURES;
    jobs.splice(0, jobs.length, ...(excess > 0 ? ended.slice(excess) : ended), ...active);
    await this.persist(jobs);
    if (publish) this.hooks.publish(over);
    this.hooks.finished(over);
  }

  /** Hands the first queued job to the runner when none runs. */
  private async dispatch(jobs: JobState[]): Promise<void> {
    let next: JobState | undefined;
    while (!jobs.some(isRunning) && (next = jobs.find((j) => j.status === 'queued'))) {
      const started = bump(next, { status: 'running' });
      jobs[jobs.indexOf(next)] = started;
      // Stored as running before the runner has it: should the worker stop now, `check` finds out what became of it.
      await this.save(jobs, started);
      try {
        await this.runner.start(started);
      } catch (error) {
        const { name, message } = error instanceof Error ? error : new Error(String(error));
        await this.end(jobs, bump(started, { status: 'failed', etaMs: null, error: { name, message } }));
      }
    }
  }

  private async save(jobs: JobState[], changed: JobState): Promise<void> {
    await this.persist(jobs);
    this.hooks.publish(changed);
  }

  private async persist(jobs: JobState[]): Promise<void> {
    await this.storage.save(jobs);
    this.hooks.saved(jobs);
  }
}
