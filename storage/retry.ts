/**
 * Retries with exponential back-off for requests to the hub. Network errors (a `TypeError` from `fetch`, a body
 * stream that breaks) and the statuses a server uses for "try again" (408, 429, 5xx) are retried; anything else
 * fails at once. The delay doubles from `baseDelayMs` up to `maxDelayMs`, or follows a server's `Retry-After`
 * (seconds) when it asks for longer.
 */
import { DownloadCancelledError, DownloadFailedError, FileNotFoundError, HubError } from './errors';

export interface RetryOptions {
  /** Failed attempts in a row before giving up (default 6). */
  attempts?: number;
  /** Delay after the first failure (default 1000 ms). */
  baseDelayMs?: number;
  /** Longest delay (default 30 s). */
  maxDelayMs?: number;
  /** Waits `ms` or rejects when `signal` aborts (tests pass one that records the delays and returns at once). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** A failure worth another attempt: an HTTP status that signals a transient problem. */
export class TransientHttpError extends Error {
  constructor(
    readonly status: number,
    /** Seconds the server asked to wait (`Retry-After`), if it said. */
    readonly retryAfter?: number,
  ) {
    super(`HTTP ${status}`);
    this.name = 'TransientHttpError';
  }
}

export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Throws the right error for a response that is not a success: transient (retry), 404, or a final `HubError`. */
export function checkStatus(response: Response, url: string): void {
  if (response.ok) return;
  if (response.status === 404) throw new FileNotFoundError(url);
  if (isTransientStatus(response.status)) {
    const after = Number(response.headers.get('Retry-After'));
    throw new TransientHttpError(response.status, Number.isFinite(after) && after > 0 ? after : undefined);
  }
  throw new HubError(url, response.status);
}

/** Errors a retry may fix. Cancellation and answers the server means (404, 403, corrupt data) are final. */
export function isRetryable(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  if (error instanceof TransientHttpError) return true;
  // fetch rejects with a TypeError on network failure; a body stream that breaks mid-file rejects the read the same way.
  return error instanceof TypeError || (error instanceof Error && /terminated|socket|network|ECONNRESET|other side closed/i.test(error.message));
}

/** Delay before attempt `failures + 1`, after `failures` failures in a row. */
export function backoffDelay(failures: number, options: RetryOptions, error?: unknown): number {
  const base = options.baseDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  const delay = Math.min(max, base * 2 ** (failures - 1));
  const asked = error instanceof TransientHttpError && error.retryAfter !== undefined ? error.retryAfter * 1000 : 0;
  return Math.min(Math.max(delay, asked), Math.max(max, 60_000));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `attempt` until it succeeds, a final error occurs, or `attempts` failures in a row. */
export async function withRetries<T>(url: string, attempt: () => Promise<T>, options: RetryOptions = {}, signal?: AbortSignal): Promise<T> {
  const attempts = options.attempts ?? 6;
  const wait = options.sleep ?? sleep;
  for (let failures = 0; ; ) {
    try {
      return await attempt();
    } catch (error) {
      if (signal?.aborted) throw new DownloadCancelledError(url);
      if (!isRetryable(error, signal)) throw error;
      failures++;
      if (failures >= attempts) throw new DownloadFailedError(url, failures, error);
      try {
        await wait(backoffDelay(failures, options, error), signal);
      } catch {
        throw new DownloadCancelledError(url);
      }
    }
  }
}
