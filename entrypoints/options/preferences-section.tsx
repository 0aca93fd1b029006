/**
 * The options page's preferences: the Hugging Face endpoint, the popup's default generation settings, and the
 * engine's tuning panel (weight format of new models, attention chunk budget, memory mode, the precision path).
 * Each group is saved with its own button and read back from the store, so what shows is what is stored.
 */
import { useEffect, useState } from 'preact/hooks';
import type { StorageFormat } from '../../engine/gpu/tensor';
import type { MemoryMode } from '../../engine/pipeline';
import { SCHEDULER_NAMES, type SchedulerName } from '../../engine/schedulers/types';
import { LIMITS, type EngineStatus } from '../../lib/messages';
import { WEIGHT_FORMAT_NAMES } from '../../lib/model-messages';
import { SAMPLER_LABELS } from '../../lib/samplers';
import type { PreferencesControls } from '../../lib/use-preferences';
import { asError } from '../../lib/use-request';
import { ErrorNotice } from '../../lib/error-notice';
import { ATTENTION_BUDGETS_MIB, endpointProblem, normalizeEndpoint, type Preferences } from '../../storage/preferences';
import { FORMAT_TEXT } from './models-section';

/** Saves a patch and says so (or why not) next to the button that asked. */
function useSaver(save: PreferencesControls['save']) {
  const [status, setStatus] = useState<{ ok: true; text: string } | { ok: false; error: Error }>();
  const run = (patch: Partial<Preferences>, text: string) => {
    setStatus(undefined);
    save(patch).then(
      () => setStatus({ ok: true, text }),
      (e: unknown) => setStatus({ ok: false, error: asError(e) }),
    );
  };
  const view = status && (status.ok ? <p role="status">{status.text}</p> : <ErrorNotice error={status.error} title="Not saved" />);
  return { run, view };
}

export function EndpointForm({ preferences, save }: { preferences: Preferences; save: PreferencesControls['save'] }) {
  const [endpoint, setEndpoint] = useState(preferences.hubEndpoint);
  const [problem, setProblem] = useState<string>();
  const saver = useSaver(save);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        const url = normalizeEndpoint(endpoint);
        const why = endpointProblem(url);
        setProblem(why && why[0]!.toUpperCase() + why.slice(1) + '.');
        if (!why) saver.run({ hubEndpoint: url }, `Downloads now come from ${url}.`);
      }}
    >
      <label for="hub-endpoint">Hugging Face endpoint</label>
      <input id="hub-endpoint" type="url" value={endpoint} onInput={(e) => setEndpoint(e.currentTarget.value)} aria-describedby="endpoint-hint" />
      <p id="endpoint-hint" class="hint">
        Where models are downloaded from (default https://huggingface.co), like huggingface_hub’s HF_ENDPOINT: a mirror works if it serves the
        same /{'{repo}'}/resolve/{'{revision}'}/{'{file}'} addresses and allows this extension’s requests (CORS).
      </p>
      {problem && (
        <p class="notice error" role="alert">
          {problem}
        </p>
      )}
      <button type="submit">Save endpoint</button>
      {saver.view}
    </form>
  );
}

export function DefaultsForm({ preferences, save }: { preferences: Preferences; save: PreferencesControls['save'] }) {
  const d = preferences.defaults;
  const [scheduler, setScheduler] = useState<string>(d.scheduler ?? '');
  const [steps, setSteps] = useState(String(d.steps));
  const [guidance, setGuidance] = useState(String(d.guidance));
  const [size, setSize] = useState(d.size === null ? '' : String(d.size));
  const [emphasis, setEmphasis] = useState(d.emphasis);
  const [problem, setProblem] = useState<string>();
  const saver = useSaver(save);
  const sizes: number[] = [];
  for (let s = 256; s <= 1024; s += LIMITS.size.multiple) sizes.push(s);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        const n = Number(steps);
        const g = Number(guidance);
        if (!Number.isInteger(n) || n < LIMITS.steps.min || n > LIMITS.steps.max) return setProblem(`Steps must be a whole number from ${LIMITS.steps.min} to ${LIMITS.steps.max}.`);
        if (guidance.trim() === '' || !(g >= LIMITS.guidance.min && g <= LIMITS.guidance.max)) return setProblem(`Guidance must be a number from ${LIMITS.guidance.min} to ${LIMITS.guidance.max}.`);
        setProblem(undefined);
        saver.run({ defaults: { scheduler: (scheduler || null) as SchedulerName | null, steps: n, guidance: g, size: size ? Number(size) : null, emphasis } }, 'The popup starts with these settings.');
      }}
    >
      <div class="fields">
        <div>
          <label for="default-scheduler">Scheduler</label>
          <select id="default-scheduler" value={scheduler} onChange={(e) => setScheduler(e.currentTarget.value)}>
            <option value="">The model’s own</option>
            {SCHEDULER_NAMES.map((name) => (
              <option key={name} value={name}>
                {SAMPLER_LABELS[name]}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="default-size">Size</label>
          <select id="default-size" value={size} onChange={(e) => setSize(e.currentTarget.value)} aria-describedby="size-hint">
            <option value="">The model’s native size</option>
            {sizes.map((s) => (
              <option key={s} value={String(s)}>
                {s} × {s}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="default-steps">Steps</label>
          <input id="default-steps" type="number" min={LIMITS.steps.min} max={LIMITS.steps.max} value={steps} onInput={(e) => setSteps(e.currentTarget.value)} />
        </div>
        <div>
          <label for="default-guidance">Guidance</label>
          <input id="default-guidance" type="number" step={0.5} min={LIMITS.guidance.min} max={LIMITS.guidance.max} value={guidance} onInput={(e) => setGuidance(e.currentTarget.value)} />
        </div>
      </div>
      <p id="size-hint" class="hint">
        A size the chosen model cannot make falls back to its native size.
      </p>
      <label class="choice">
        <input id="default-emphasis" type="checkbox" checked={emphasis} onChange={(e) => setEmphasis(e.currentTarget.checked)} aria-describedby="emphasis-hint" /> Prompt
        weighting
      </label>
      <p id="emphasis-hint" class="hint">
        As in AUTOMATIC1111: (word) and (word:1.5) give a word more weight, [word] less, and \( \) are plain brackets. When off, brackets are text.
      </p>
      {problem && (
        <p class="notice error" role="alert">
          {problem}
        </p>
      )}
      <button type="submit">Save defaults</button>
      {saver.view}
    </form>
  );
}

export function TuningForm({ preferences, save, engine }: { preferences: Preferences; save: PreferencesControls['save']; engine: EngineStatus | undefined }) {
  const [format, setFormat] = useState<StorageFormat>(preferences.weightFormat);
  const [budget, setBudget] = useState(String(preferences.attentionBudgetMiB));
  const [memory, setMemory] = useState<MemoryMode>(preferences.memory);
  const saver = useSaver(save);
  useEffect(() => setFormat(preferences.weightFormat), [preferences.weightFormat]);
  const maxBinding = engine ? engine.adapter.limits.maxStorageBufferBindingSize : undefined;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        saver.run({ weightFormat: format, attentionBudgetMiB: Number(budget), memory }, 'Saved: the next generation runs with these settings.');
      }}
    >
      <label for="weight-format">Weight format of new models</label>
      <select id="weight-format" value={format} onChange={(e) => setFormat(e.currentTarget.value as StorageFormat)} aria-describedby="format-hint">
        {WEIGHT_FORMAT_NAMES.map((f) => (
          <option key={f} value={f}>
            {FORMAT_TEXT[f]}
          </option>
        ))}
      </select>
      <p id="format-hint" class="hint">
        Models are converted when they are installed; an installed model keeps its format (delete and install it again to change it).
      </p>

      <label for="attention-budget">Attention chunk budget</label>
      <select id="attention-budget" value={budget} onChange={(e) => setBudget(e.currentTarget.value)} aria-describedby="budget-hint">
        {ATTENTION_BUDGETS_MIB.map((mib) => (
          <option key={mib} value={String(mib)}>
            {mib} MiB{mib === 128 ? ' (default)' : ''}
          </option>
        ))}
      </select>
      <p id="budget-hint" class="hint">
        Attention runs in query chunks whose score matrix stays within this many bytes per dispatch: smaller means more, shorter GPU dispatches
        (use it when the GPU driver resets during generation).
        {maxBinding !== undefined && ` This adapter binds at most ${Math.floor(maxBinding / 2 ** 20)} MiB per buffer.`}
      </p>

      <fieldset aria-describedby="memory-hint">
        <legend>Memory mode</legend>
        <label class="choice">
          <input type="radio" name="memory" value="fast" checked={memory === 'fast'} onChange={() => setMemory('fast')} /> Fast: keep every stage of the model on the GPU
          between images
        </label>
        <label class="choice">
          <input type="radio" name="memory" value="low" checked={memory === 'low'} onChange={() => setMemory('low')} /> Low: free the text encoder before the UNet runs and
          the UNet before the VAE (less GPU memory, slower)
        </label>
      </fieldset>
      <p id="memory-hint" class="hint">
        Applies from the next generation.
      </p>

      <dl>
        <dt>Precision path</dt>
        <dd>
          f32 arithmetic with f32 accumulation; weights stay in their stored format on the GPU and are expanded inside the kernels.{' '}
          {engine && (engine.adapter.features.shaderF16 ? 'This adapter has shader-f16.' : 'This adapter has no shader-f16.')}
        </dd>
      </dl>
      <button type="submit">Save tuning</button>
      {saver.view}
    </form>
  );
}
