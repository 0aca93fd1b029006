/**
 * The auto-tuner on the options page: a button that tunes the engine's op configurations for this GPU (within a
 * time budget the user picks), the run's progress, and the stored choices: for each op shape the default and the
 * chosen configuration with their times. The run happens in the offscreen document; this section starts it with
 * `run-tuner` and follows it by asking for `tuner-state` once a second while it runs.
 */
import { useEffect, useState } from 'preact/hooks';
import { ErrorNotice } from '../../lib/error-notice';
import { TUNER_BUDGET_SECONDS, type TunerState } from '../../lib/messages';
import { request } from '../../lib/messaging';
import { asError } from '../../lib/use-request';

export interface TunerSectionProps {
  /** The budget the form starts with, in seconds (default 120). */
  defaultBudgetSeconds?: number;
  /** How often a running tuner is asked for its progress, in milliseconds (default 1000). */
  pollMs?: number;
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));

export function TunerSection({ defaultBudgetSeconds = 120, pollMs = 1000 }: TunerSectionProps) {
  const [state, setState] = useState<TunerState | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [budget, setBudget] = useState(String(defaultBudgetSeconds));
  const running = state?.status === 'running';

  useEffect(() => {
    request('tuner-state', {}).then(setState, (e: unknown) => setError(asError(e)));
  }, []);

  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(() => {
      request('tuner-state', {}).then(setState, (e: unknown) => setError(asError(e)));
    }, pollMs);
    return () => clearInterval(timer);
  }, [running, pollMs]);

  const seconds = Number(budget);
  const budgetOk = Number.isInteger(seconds) && seconds >= TUNER_BUDGET_SECONDS.min && seconds <= TUNER_BUDGET_SECONDS.max;
  const start = (event: Event) => {
    event.preventDefault();
    setError(null);
    request('run-tuner', { budgetSeconds: seconds }).then(setState, (e: unknown) => setError(asError(e)));
  };

  return (
    <section aria-labelledby="tuner-heading" aria-busy={state === null || running}>
      <h2 id="tuner-heading">Tuning for this GPU</h2>
      <p class="hint">
        Times the engine's kernels with several tile sizes and algorithms at the built-in model's shapes on this GPU and keeps the fastest
        (each checked against the default's result first). Generation uses the choices from the next image on.
      </p>
      <form onSubmit={start}>
        <label>
          Time budget (seconds)
          <input
            type="number"
            min={TUNER_BUDGET_SECONDS.min}
            max={TUNER_BUDGET_SECONDS.max}
            step={1}
            value={budget}
            disabled={running}
            onInput={(e) => setBudget((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="primary" disabled={running || !budgetOk || state === null}>
          {running ? 'Tuning…' : 'Tune now'}
        </button>
      </form>
      {error && <ErrorNotice error={error} title="The tuner could not run" />}
      {state?.status === 'failed' && state.error && <ErrorNotice error={Object.assign(new Error(state.error.message), { name: state.error.name })} title="The tuning run failed" />}
      {running && (
        <p role="status">
          <progress value={state.done} max={Math.max(1, state.total)} /> {state.done} of {state.total || '…'} op shapes,{' '}
          {(state.elapsedMs / 1000).toFixed(0)} of {(state.budgetMs / 1000).toFixed(0)} s{state.current ? ` — last: ${state.current}` : ''}
        </p>
      )}
      {state?.status === 'done' && <p role="status">Done in {(state.elapsedMs / 1000).toFixed(0)} s: {state.done} of {state.total} op shapes searched.</p>}
      {state && state.rows.length > 0 && (
        <table>
          <caption>Choices for this GPU{state.updated ? ` (tuned ${state.updated.slice(0, 10)})` : ''}</caption>
          <thead>
            <tr>
              <th scope="col">Op</th>
              <th scope="col">Shape</th>
              <th scope="col">Default</th>
              <th scope="col">Chosen</th>
              <th scope="col">Default ms</th>
              <th scope="col">Chosen ms</th>
            </tr>
          </thead>
          <tbody>
            {state.rows.map((r) => (
              <tr key={`${r.op}/${r.shape}`}>
                <th scope="row">{r.op}</th>
                <td>{r.shape}</td>
                <td>{r.default}</td>
                <td class={r.chosen === r.default ? undefined : 'ok'}>{r.chosen === r.default ? 'default kept' : r.chosen}</td>
                <td class="number">{ms(r.defaultMs)}</td>
                <td class="number">{ms(r.ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {state && state.rows.length === 0 && !running && <p class="muted">Not tuned yet: every kernel runs its default configuration.</p>}
    </section>
  );
}
