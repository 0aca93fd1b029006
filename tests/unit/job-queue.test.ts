/**
 * The background's persisted job queue against a fake runner and storage: order, one job at a time, cancel, stale
 * updates, failed jobs kept until dismissed, and what a restarted worker (a new queue on the same storage) makes of a job its runner lost or finished.
 */
import { describe, expect, it } from 'vitest';
import { JobQueue, KEPT_FAILURES, type QueueRunner } from '../../lib/job-queue';
import type { GenerationSettings, JobState } from '../../lib/messages';

const SETTINGS: GenerationSettings = { prompt: 'a fox', negativePrompt: '', steps: 1, guidance: 1, width: 64, height: 64, seed: 7, scheduler: 'ddim', model: 'tiny-sd1' };

/** Storage that outlives queues, as `storage.session` outlives a worker. */
class Storage {
  jobs?: JobState[];
  async load() {
    return this.jobs && structuredClone(this.jobs);
  }
  async save(jobs: JobState[]) {
    this.jobs = structuredClone(jobs);
  }
}

/** A runner that takes jobs and finishes them when told. */
class Runner implements QueueRunner {
  alive = true;
  running: JobState | null = null;
  finished: JobState | null = null;
  started: string[] = [];
  async state() {
    return this.alive ? { running: this.running, finished: this.finished } : null;
  }
  async start(job: JobState) {
    if (this.running) throw new Error('busy');
    this.running = job;
    this.started.push(job.settings.prompt);
  }
  async cancel(jobId: string) {
    return this.running?.jobId === jobId;
  }
  /** The runner's final update of its job. */
  end(status: 'done' | 'failed'): JobState {
    const job = this.running!;
    const result = { image: 'data:image/png;base64,AAAA', width: 64, height: 64, truncated: { prompt: 0, negativePrompt: 0 }, cutText: { prompt: '', negativePrompt: '' }, timings: {}, gallery: { id: 1 } };
    const over: JobState = { ...job, status, version: job.version + 2, result: status === 'done' ? result : null, error: status === 'failed' ? { name: 'E', message: 'm' } : null };
    this.running = null;
    this.finished = over;
    return over;
  }
}

function setup(storage = new Storage(), runner = new Runner()) {
  const published: JobState[] = [];
  const finished: JobState[] = [];
  const queue = new JobQueue(storage, runner, { publish: (j) => published.push(j), saved: () => undefined, finished: (j) => finished.push(j) });
  return { queue, storage, runner, published, finished };
}

describe('the persisted job queue', () => {
  it('runs jobs one at a time in the order asked, from the popup and the menu alike', async () => {
    const { queue, runner, finished } = setup();
    const a = await queue.add({ ...SETTINGS, prompt: 'a' }, 'popup');
    const b = await queue.add({ ...SETTINGS, prompt: 'b' }, 'menu', 12);
    const c = await queue.add({ ...SETTINGS, prompt: 'c', seed: null }, 'popup');
    expect(runner.started).toEqual(['a']);
    expect(a.createdAt < b.createdAt && b.createdAt < c.createdAt).toBe(true);
    expect(c.seed).toBeGreaterThanOrEqual(0);
    expect((await queue.list()).map((j) => [j.settings.prompt, j.status, j.source])).toEqual([
      ['a', 'running', 'popup'],
      ['b', 'queued', 'menu'],
      ['c', 'queued', 'popup'],
    ]);
    await queue.update(runner.end('done'));
    expect(runner.started).toEqual(['a', 'b']);
    await queue.update(runner.end('done'));
    await queue.update(runner.end('failed'));
    expect(finished.map((j) => [j.settings.prompt, j.status])).toEqual([
      ['a', 'done'],
      ['b', 'done'],
      ['c', 'failed'],
    ]);
    // The last finished job is kept for a page that opens later.
    expect((await queue.list()).map((j) => j.settings.prompt)).toEqual(['c']);
    expect((await queue.current())?.status).toBe('failed');
  });

  it('keeps a failed job beside the next ones until it is dismissed, also for a worker started later', async () => {
    const storage = new Storage();
    const { queue, runner } = setup(storage);
    const a = await queue.add({ ...SETTINGS, prompt: 'a' }, 'popup');
    await queue.add({ ...SETTINGS, prompt: 'b' }, 'menu');
    await queue.add({ ...SETTINGS, prompt: 'c' }, 'menu');
    await queue.update(runner.end('failed'));
    const summary = async (q: JobQueue) => (await q.list()).map((j) => [j.settings.prompt, j.status]);
    expect(await summary(queue)).toEqual([
      ['a', 'failed'],
      ['b', 'running'],
      ['c', 'queued'],
    ]);
    expect((await queue.current())?.settings.prompt).toBe('b');
    await queue.update(runner.end('done'));
    await queue.update(runner.end('done'));
    // The failure stays ahead of the last job that ended, which is what `current` answers.
    expect(await summary(queue)).toEqual([
      ['a', 'failed'],
      ['c', 'done'],
    ]);
    expect((await queue.current())?.settings.prompt).toBe('c');
    expect(await summary(setup(storage).queue)).toEqual(await summary(queue));

    expect(await queue.dismiss(a.jobId)).toBe(true);
    expect(await queue.dismiss(a.jobId)).toBe(false);
    // Only failures are dismissed.
    expect(await queue.dismiss((await queue.current())!.jobId)).toBe(false);
    expect(await summary(queue)).toEqual([['c', 'done']]);
    expect(storage.jobs!.map((j) => j.settings.prompt)).toEqual(['c']);
  });

  it('forgets failures when the popup starts another job (not when the menu does), and keeps a few at most', async () => {
    const { queue, runner } = setup();
    for (let i = 0; i < KEPT_FAILURES + 2; i++) {
      await queue.add({ ...SETTINGS, prompt: `m${i}` }, 'menu');
      await queue.update(runner.end('failed'));
    }
    const failed = async () => (await queue.list()).filter((j) => j.status === 'failed').map((j) => j.settings.prompt);
    expect(await failed()).toEqual(['m2', 'm3', 'm4']);
    await queue.add({ ...SETTINGS, prompt: 'menu' }, 'menu');
    expect(await failed()).toEqual(['m2', 'm3', 'm4']);
    await queue.add({ ...SETTINGS, prompt: 'popup' }, 'popup');
    expect((await queue.list()).map((j) => [j.settings.prompt, j.status])).toEqual([
      ['menu', 'running'],
      ['popup', 'queued'],
    ]);
  });

  it('ignores stale updates and updates of jobs that already ended', async () => {
    const { queue, runner } = setup();
    const a = await queue.add(SETTINGS, 'popup');
    const running = runner.running!;
    await queue.update({ ...running, version: running.version + 1, progress: { ...running.progress, done: 1 } });
    await queue.update({ ...running, version: running.version, progress: { ...running.progress, done: 0 } });
    expect((await queue.current())?.progress.done).toBe(1);
    expect(await queue.cancel(a.jobId)).toBe(true);
    const over = runner.end('done');
    await queue.update(over);
    expect((await queue.current())?.status).toBe('done');
    await queue.update({ ...over, version: over.version + 5, status: 'running', result: null });
    expect((await queue.current())?.status).toBe('done');
  });

  it('cancels a queued job at once, and a job the runner no longer has', async () => {
    const { queue, runner, published } = setup();
    const a = await queue.add({ ...SETTINGS, prompt: 'a' }, 'popup');
    const b = await queue.add({ ...SETTINGS, prompt: 'b' }, 'popup');
    expect(await queue.cancel(b.jobId)).toBe(true);
    expect(published.at(-1)).toMatchObject({ jobId: b.jobId, status: 'cancelled' });
    expect(await queue.cancel(b.jobId)).toBe(false);
    expect(await queue.cancel('unknown')).toBe(false);
    runner.running = null;
    expect(await queue.cancel(a.jobId)).toBe(true);
    expect(await queue.current()).toMatchObject({ jobId: a.jobId, status: 'cancelled' });
  });

  it('a restarted worker fails the job a closed runner lost and starts the next; one its runner still runs goes on', async () => {
    const storage = new Storage();
    const first = setup(storage);
    await first.queue.add({ ...SETTINGS, prompt: 'a' }, 'popup');
    await first.queue.add({ ...SETTINGS, prompt: 'b' }, 'menu');

    // The worker stops; the runner carries on: a new worker keeps the job running.
    const runner = first.runner;
    const second = setup(storage, runner);
    expect((await second.queue.current())?.status).toBe('running');
    expect(runner.started).toEqual(['a']);

    // The runner's document is closed: the next wake-up fails the lost job with the reason, and runs the next.
    runner.alive = false;
    runner.running = null;
    const replacement = new Runner();
    const third = setup(storage, replacement);
    await third.queue.check();
    expect(third.finished).toEqual([expect.objectContaining({ status: 'failed', error: expect.objectContaining({ name: 'EngineStoppedError' }) })]);
    expect(third.published.find((j) => j.status === 'failed')?.error?.message).toContain('Generate it again');
    expect(replacement.started).toEqual(['b']);
  });

  it('a restarted worker takes the end of a job its runner finished while the worker was stopped', async () => {
    const storage = new Storage();
    const first = setup(storage);
    await first.queue.add(SETTINGS, 'popup');
    first.runner.end('done');
    const second = setup(storage, first.runner);
    expect(await second.queue.current()).toMatchObject({ status: 'done', result: { gallery: { id: 1 } } });
    expect(second.finished).toHaveLength(1);
  });

  it('fails a job the runner cannot take, and goes on with the next', async () => {
    const runner = new Runner();
    runner.start = async () => {
      throw Object.assign(new Error('WebGPU is not available'), { name: 'WebGPUNotFoundError' });
    };
    const { queue, finished } = setup(new Storage(), runner);
    await queue.add({ ...SETTINGS, prompt: 'a' }, 'popup');
    await queue.add({ ...SETTINGS, prompt: 'b' }, 'popup');
    expect(finished.map((j) => [j.settings.prompt, j.status, j.error?.name])).toEqual([
      ['a', 'failed', 'WebGPUNotFoundError'],
      ['b', 'failed', 'WebGPUNotFoundError'],
    ]);
  });
});
