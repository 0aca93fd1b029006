/**
 * The generation job a page shows: the offscreen document's current job, asked for when the page opens and then
 * followed through its `job-update` events, so a popup opened while a job runs picks it up where it is.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { isActive, type GenerationSettings, type JobState } from './messages';
import { onEvent, request } from './messaging';
import { asError } from './use-request';

/** Whether `next` is news over `shown`: a later version of the same job, or a job created no earlier. */
function isNewer(next: JobState, shown: JobState | null): boolean {
  if (!shown) return true;
  return next.jobId === shown.jobId ? next.version > shown.version : next.createdAt >= shown.createdAt;
}

export interface JobControls {
  /** undefined until the current job (or that there is none) is known. */
  job: JobState | null | undefined;
  /** A generate or cancel request of this page that failed (the job itself reports its own failures). */
  requestError: Error | null;
  /** True from Generate until the job exists. */
  starting: boolean;
  generate(settings: GenerationSettings): void;
  cancel(): void;
}

export function useJob(): JobControls {
  const [job, setJob] = useState<JobState | null | undefined>(undefined);
  const [requestError, setRequestError] = useState<Error | null>(null);
  const [starting, setStarting] = useState(false);
  const show = useCallback((next: JobState | null) => setJob((shown) => (next && isNewer(next, shown ?? null) ? next : (shown ?? next))), []);

  useEffect(() => {
    // Listening first: an update sent while the current state is on its way is not lost, and the older one loses.
    const stop = onEvent((event) => show(event.job));
    request('job-state', {}).then(show, (error: unknown) => {
      setJob((shown) => shown ?? null);
      setRequestError(asError(error));
    });
    return stop;
  }, [show]);

  const generate = useCallback(
    (settings: GenerationSettings) => {
      setRequestError(null);
      setStarting(true);
      request('generate', { settings })
        .then(show, (error: unknown) => setRequestError(asError(error)))
        .finally(() => setStarting(false));
    },
    [show],
  );

  const cancel = useCallback(() => {
    if (!job || !isActive(job)) return;
    setRequestError(null);
    request('cancel', { jobId: job.jobId }).catch((error: unknown) => setRequestError(asError(error)));
  }, [job]);

  return { job, requestError, starting, generate, cancel };
}
