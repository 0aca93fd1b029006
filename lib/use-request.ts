/** A request's answer for the popup and options page, asked once when the page opens. */
import { useEffect, useState } from 'preact/hooks';
import type { PayloadOf, Results } from './messages';
import { request } from './messaging';

export type RequestState<T> = { state: 'loading' } | { state: 'ready'; value: T } | { state: 'failed'; error: Error };

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function useRequest<T extends 'engine-status' | 'model-info'>(type: T): RequestState<Results[T]> {
  const [state, setState] = useState<RequestState<Results[T]>>({ state: 'loading' });
  useEffect(() => {
    request<T>(type, {} as PayloadOf<T>).then(
      (value) => setState({ state: 'ready', value }),
      (error: unknown) => setState({ state: 'failed', error: asError(error) }),
    );
  }, [type]);
  return state;
}
