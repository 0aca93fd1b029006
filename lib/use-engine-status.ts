/** The engine's status for the popup and options page, requested once when the page opens. */
import { useEffect, useState } from 'preact/hooks';
import type { EngineStatus } from './messages';
import { request } from './messaging';

export type EngineState =
  | { state: 'loading' }
  | { state: 'ready'; status: EngineStatus }
  | { state: 'failed'; error: Error };

export function useEngineStatus(): EngineState {
  const [state, setState] = useState<EngineState>({ state: 'loading' });
  useEffect(() => {
    request('engine-status').then(
      (status) => setState({ state: 'ready', status }),
      (error: unknown) => setState({ state: 'failed', error: error instanceof Error ? error : new Error(String(error)) }),
    );
  }, []);
  return state;
}
