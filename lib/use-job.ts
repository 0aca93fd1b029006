/**
 * The generation jobs a page shows: the background's queue, asked for when the page opens and then followed through
 * the `job-update` events, so a popup opened while a job runs picks it up where it is. The job shown is the one
 * running, else the next to run, else the last to finish; the others still to run are listed as waiting. A job that
 * failed stays on screen beside the next one until the user dismisses it or generates again (the queue keeps it as
 * long, so a popup opened later shows it too).
 */
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { isActive, type GenerationSettings, type JobState } from './messages';
import { onEvent, request } from './messaging';
import { asError } from './use-request';

type Jobs = ReadonlyMap<string, JobState>;

/** `jobs` with `next` in it, when it is a later version than the one there. */
function withJob(jobs: Jobs, next: JobState): Jobs {
  const shown = jobs.get(next.jobId);
  if (shown && shown.version >= next.version) return jobs;
  return new Map(jobs).set(next.jobId, next);
}

const byCreation = (a: JobState, b: JobState) => a.createdAt - b.createdAt;
const byUpdate = (a: JobState, b: JobState) => a.updatedAt - b.updatedAt;
const none: ReadonlySet<string> = new Set();

export interface JobControls {
  /** undefined until the queue (or that it is empty) is known. */
  job: JobState | null | undefined;
  /** Jobs still to run after the one shown, in order. */
  waiting: JobState[];
  /** The last job that failed and was not dismissed, when another job is shown (a failed job shown says why itself). */
  failure: JobState | null;
  /** A generate or cancel request of this page that failed (the job itself reports its own failures). */
  requestError: Error | null;
  /** True from Generate until the job exists. */
  starting: boolean;
  /** Queues one job per settings, in order. */
  generate(jobs: GenerationSettings[]): void;
  /** Cancels the job shown, or the waiting job `jobId`. */
  cancel(jobId?: string): void;
  /** Puts the failed job `jobId` out of sight, here and in the queue. */
  dismiss(jobId: string): void;
}

export function useJob(): JobControls {
  const [jobs, setJobs] = useState<Jobs | undefined>(undefined);
  const [requestError, setRequestError] = useState<Error | null>(null);
  const [starting, setStarting] = useState(false);
  const [dismissed, setDismissed] = useState(none);
  const show = useCallback((next: JobState[]) => setJobs((shown) => next.reduce(withJob, shown ?? new Map())), []);

  useEffect(() => {
    // Listening first: an update sent while the queue is on its way is not lost, and the older one loses.
    const stop = onEvent((event) => {
      if (event.type === 'job-update') show([event.job]);
    });
    request('jobs', {}).then(show, (error: unknown) => {
      setJobs((shown) => shown ?? new Map());
      setRequestError(asError(error));
    });
    return stop;
  }, [show]);

  const { job, waiting, failure } = useMemo(() => {
    if (!jobs) return { job: undefined, waiting: [], failure: null };
    const all = [...jobs.values()].filter((j) => !dismissed.has(j.jobId)).sort(byCreation);
    const active = all.filter(isActive);
    const running = active.find((j) => j.status !== 'queued');
    const ended = all.filter((j) => !isActive(j)).sort(byUpdate);
    const shown = running ?? active[0] ?? ended.at(-1) ?? null;
    return { job: shown, waiting: active.filter((j) => j !== shown), failure: ended.filter((j) => j.status === 'failed' && j !== shown).at(-1) ?? null };
  }, [jobs, dismissed]);

  const dismiss = useCallback((jobId: string) => {
    setDismissed((ids) => new Set(ids).add(jobId));
    request('dismiss-job', { jobId }).catch((error: unknown) => setRequestError(asError(error)));
  }, []);

  const generate = useCallback(
    (list: GenerationSettings[]) => {
      setRequestError(null);
      // The queue forgets its failures when the popup starts another job; so does the page.
      const failed = [...(jobs?.values() ?? [])].filter((j) => j.status === 'failed').map((j) => j.jobId);
      setDismissed((ids) => new Set([...ids, ...failed]));
      setStarting(true);
      // One request after the other: the queue takes them in this order.
      const queueAll = async () => {
        for (const settings of list) show([await request('generate', { settings })]);
      };
      queueAll()
        .catch((error: unknown) => setRequestError(asError(error)))
        .finally(() => setStarting(false));
    },
    [show, jobs],
  );

  const cancel = useCallback(
    (jobId?: string) => {
      const id = jobId ?? (job && isActive(job) ? job.jobId : undefined);
      if (!id) return;
      setRequestError(null);
      request('cancel', { jobId: id }).catch((error: unknown) => setRequestError(asError(error)));
    },
    [job],
  );

  return { job, waiting, failure, requestError, starting, generate, cancel, dismiss };
}
