/**
 * The generation settings: prompt (Enter generates, Shift+Enter starts a new line), negative prompt, size, steps,
 * guidance, scheduler, seed (empty for a random one) and how many images one Generate queues. Values are kept as typed and checked when submitted, with
 * the protocol's own rules, so the message says exactly what to fix.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { SchedulerName } from '../../engine/schedulers/types';
import { SCHEDULER_NAMES } from '../../engine/schedulers/types';
import { MAX_IMAGES } from '../../lib/batch';
import { LIMITS, settingsProblem, type GenerationSettings, type ModelInfo } from '../../lib/messages';
import { SAMPLER_LABELS } from '../../lib/samplers';
import { StartImageField, type StartImageValue } from './start-image';

export interface FormValues {
  prompt: string;
  negativePrompt: string;
  steps: string;
  guidance: string;
  width: string;
  height: string;
  seed: string;
  scheduler: SchedulerName | '';
  /** img2img: the gallery image to start from, or null for text only. */
  startImage: StartImageValue | null;
  model: string;
  /** Images one Generate queues (lib/batch.ts), 1 to MAX_IMAGES. */
  count: string;
}

export const INITIAL_VALUES: FormValues = {
  prompt: '',
  negativePrompt: '',
  steps: '20',
  guidance: '7.5',
  width: '',
  height: '',
  seed: '',
  scheduler: '',
  startImage: null,
  model: '',
  count: '1',
};

export function valuesOf(settings: GenerationSettings): FormValues {
  return {
    prompt: settings.prompt,
    negativePrompt: settings.negativePrompt,
    steps: String(settings.steps),
    guidance: String(settings.guidance),
    width: String(settings.width),
    height: String(settings.height),
    seed: settings.seed === null ? '' : String(settings.seed),
    scheduler: settings.scheduler,
    startImage: settings.startImage
      ? { galleryId: settings.startImage.galleryId, strength: String(settings.startImage.strength), ...(settings.startImage.mask ? { mask: settings.startImage.mask } : {}) }
      : null,
    model: settings.model,
    // One job's settings make one image again.
    count: '1',
  };
}

/** The settings the values describe, or the sentence saying what is wrong with them. */
export function settingsOf(values: FormValues): { settings: GenerationSettings } | { problem: string } {
  const number = (text: string) => (text.trim() === '' ? NaN : Number(text));
  const settings = {
    prompt: values.prompt,
    negativePrompt: values.negativePrompt,
    steps: number(values.steps),
    guidance: number(values.guidance),
    width: number(values.width),
    height: number(values.height),
    seed: values.seed.trim() === '' ? null : number(values.seed),
    scheduler: values.scheduler,
    ...(values.startImage
      ? { startImage: { galleryId: values.startImage.galleryId, strength: number(values.startImage.strength), ...(values.startImage.mask ? { mask: values.startImage.mask } : {}) } }
      : {}),
    model: values.model,
  };
  const problem = settingsProblem(settings);
  return problem === undefined ? { settings: settings as GenerationSettings } : { problem: problem[0]!.toUpperCase() + problem.slice(1) + '.' };
}

interface Props {
  values: FormValues;
  onChange(values: FormValues): void;
  /** undefined until the engine has opened the model: sizes and schedulers come from it. */
  model: ModelInfo | undefined;
  /** A job is queued or running: Cancel shows (Generate queues another). */
  busy: boolean;
  /** The engine is ready. */
  canGenerate: boolean;
  /** What is wrong with the values, after a Generate that could not start. */
  problem: string | undefined;
  onGenerate(): void;
  onCancel(): void;
  cancelling: boolean;
  /** The models to choose from: the built-in one and the installed ones. */
  models: readonly { id: string; name: string }[];
  /** Prompt weighting is on (the options page's preference): the hint gives its syntax. */
  emphasis: boolean;
}

export function SettingsForm({ values, onChange, model, busy, canGenerate, problem, onGenerate, onCancel, cancelling, models, emphasis }: Props) {
  const prompt = useRef<HTMLTextAreaElement>(null);
  const generateButton = useRef<HTMLButtonElement>(null);
  const cancelButton = useRef<HTMLButtonElement>(null);
  useEffect(() => prompt.current?.focus(), []);
  // Cancel disappears when the job ends: focus moves to Generate instead of falling back to the page.
  const focusedButton = useRef<'generate' | 'cancel' | null>(null);
  // Blur towards another element is the user moving on; a removed button blurs towards nothing.
  const forget = (event: FocusEvent) => {
    if (event.relatedTarget) focusedButton.current = null;
  };
  useEffect(() => {
    if (!busy && focusedButton.current === 'cancel') generateButton.current?.focus();
  }, [busy]);
  const set = (key: keyof FormValues) => (event: Event) => onChange({ ...values, [key]: (event.currentTarget as HTMLInputElement).value });
  const submit = (event: Event) => {
    event.preventDefault();
    if (canGenerate) onGenerate();
  };
  const sizes = model?.sizes ?? [];
  const sizeLabel = (s: number, native: number | undefined) => (s === native ? `${s} (native)` : String(s));

  return (
    <form onSubmit={submit} aria-describedby={problem ? 'form-problem' : undefined} noValidate>
      <label for="prompt">Prompt</label>
      <textarea
        id="prompt"
        ref={prompt}
        rows={3}
        maxLength={LIMITS.promptChars}
        value={values.prompt}
        onInput={set('prompt')}
        aria-describedby="prompt-hint"
        placeholder="A lighthouse on a cliff at sunset, oil painting"
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            e.currentTarget.form?.requestSubmit();
          }
        }}
      />
      <p id="prompt-hint" class="hint">
        Enter generates; Shift+Enter starts a new line.{' '}
        {emphasis
          ? '(word:1.2) gives a word more weight, [word] less; \\( and \\) are plain brackets.'
          : 'Prompt weighting is off in the options: brackets are plain text.'}
      </p>

      <label for="negative-prompt">Negative prompt</label>
      <textarea
        id="negative-prompt"
        rows={2}
        maxLength={LIMITS.promptChars}
        value={values.negativePrompt}
        onInput={set('negativePrompt')}
        aria-describedby="negative-hint"
        placeholder="What the image should not show"
      />
      <p id="negative-hint" class="hint">
        Used when guidance is above 1.
      </p>

      <div class="fields">
        <div class="field wide">
          <label for="model">Model</label>
          <select id="model" value={values.model} onChange={set('model')} disabled={busy || models.length === 0}>
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="width">Width</label>
          <select id="width" value={values.width} onChange={set('width')} disabled={!model}>
            {sizes.map((s) => (
              <option key={s} value={String(s)}>
                {sizeLabel(s, model?.width)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="height">Height</label>
          <select id="height" value={values.height} onChange={set('height')} disabled={!model}>
            {sizes.map((s) => (
              <option key={s} value={String(s)}>
                {sizeLabel(s, model?.height)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="steps">Steps</label>
          <input id="steps" type="number" inputMode="numeric" min={LIMITS.steps.min} max={LIMITS.steps.max} step={1} value={values.steps} onInput={set('steps')} />
        </div>
        <div class="field">
          <label for="guidance">Guidance</label>
          <input id="guidance" type="number" inputMode="decimal" min={LIMITS.guidance.min} max={LIMITS.guidance.max} step={0.5} value={values.guidance} onInput={set('guidance')} />
        </div>
        <div class="field">
          <label for="scheduler">Scheduler</label>
          <select id="scheduler" value={values.scheduler} onChange={set('scheduler')} disabled={!model}>
            {SCHEDULER_NAMES.map((name) => (
              <option key={name} value={name}>
                {SAMPLER_LABELS[name]}
                {name === model?.defaultScheduler ? ' (default)' : ''}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="seed">Seed</label>
          <input id="seed" type="text" inputMode="numeric" autoComplete="off" placeholder="Random" value={values.seed} onInput={set('seed')} aria-describedby="seed-hint" />
        </div>
        <div class="field">
          <label for="count">Images</label>
          <select id="count" value={values.count} onChange={set('count')} aria-describedby="seed-hint">
            {Array.from({ length: MAX_IMAGES }, (_, i) => (
              <option key={i} value={String(i + 1)}>
                {i + 1}
              </option>
            ))}
          </select>
        </div>
      </div>
      <p id="seed-hint" class="hint">
        Leave the seed empty for a random one; the same seed and settings give the same image. More images take the
        seeds after it, one job each.
      </p>

      {values.startImage && <StartImageField value={values.startImage} onChange={(startImage) => onChange({ ...values, startImage })} />}

      {problem && (
        <p id="form-problem" class="notice error" role="alert">
          {problem}
        </p>
      )}
      <div class="actions">
        <button
          type="submit"
          class="primary"
          ref={generateButton}
          disabled={!canGenerate}
          onFocus={() => (focusedButton.current = 'generate')}
          onBlur={forget}
        >
          Generate
        </button>
        {busy && (
          <button
            type="button"
            ref={cancelButton}
            onClick={onCancel}
            disabled={cancelling}
            onFocus={() => (focusedButton.current = 'cancel')}
            onBlur={forget}
          >
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
    </form>
  );
}
