/**
 * The model store as a page shows it: the offscreen document's overview (stored models, catalog, storage), asked
 * for when the page opens and again whenever an install or import ends, with each running one followed through its
 * `install-update` events.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ModelInfo } from './messages';
import type { InstallState, ModelsOverview } from './model-messages';
import { onEvent, request } from './messaging';
import { asError, type RequestState } from './use-request';

export interface ModelsControls {
  overview: ModelsOverview | undefined;
  /** The latest state of each install, by model id. */
  installs: Record<string, InstallState>;
  error: Error | null;
  refresh(): void;
  /** Shows states learnt otherwise than from an event (an import's first, from its acknowledgement). */
  merge(states: InstallState[]): void;
}

const isOver = (s: InstallState) => s.phase === 'done' || s.phase === 'failed' || s.phase === 'cancelled';

export function useModels(): ModelsControls {
  const [overview, setOverview] = useState<ModelsOverview>();
  const [installs, setInstalls] = useState<Record<string, InstallState>>({});
  const [error, setError] = useState<Error | null>(null);
  const merge = useCallback((states: InstallState[]) => {
    setInstalls((shown) => {
      const next = { ...shown };
      for (const s of states) if (!next[s.modelId] || next[s.modelId]!.updatedAt <= s.updatedAt) next[s.modelId] = s;
      return next;
    });
  }, []);
  const refresh = useCallback(() => {
    request('list-models', {}).then(
      (value) => {
        setOverview(value);
        merge(value.installs);
        setError(null);
      },
      (e: unknown) => setError(asError(e)),
    );
  }, [merge]);
  useEffect(() => {
    const stop = onEvent((event) => {
      if (event.type !== 'install-update') return;
      merge([event.install]);
      if (isOver(event.install)) refresh();
    });
    refresh();
    return stop;
  }, [merge, refresh]);
  return { overview, installs, error, refresh, merge };
}

/** The engine's `ModelInfo` of `modelId`, asked for again whenever it changes; undefined id: nothing asked. */
export function useModelInfo(modelId: string | undefined): RequestState<ModelInfo> | undefined {
  const [state, setState] = useState<{ id: string; state: RequestState<ModelInfo> }>();
  useEffect(() => {
    if (modelId === undefined) return undefined;
    let current = true;
    setState({ id: modelId, state: { state: 'loading' } });
    request('model-info', { model: modelId }).then(
      (value) => current && setState({ id: modelId, state: { state: 'ready', value } }),
      (e: unknown) => current && setState({ id: modelId, state: { state: 'failed', error: asError(e) } }),
    );
    return () => {
      current = false;
    };
  }, [modelId]);
  return state && state.id === modelId ? state.state : undefined;
}
