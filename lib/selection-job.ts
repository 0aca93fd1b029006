/**
 * The settings of a job asked for from the context menu: the selected text is the prompt (plain text: the menu hands
 * over `selectionText`, never markup), everything else comes from the user's defaults, else the model's. A selection
 * longer than the protocol's prompt limit is cut there, and the job says how many characters were left out.
 */
import { LIMITS, settingsProblem, type GenerationSettings, type ModelInfo } from './messages';

/** The `settings` record (storage/db.ts) that holds the user's defaults. */
export const GENERATION_DEFAULTS_KEY = 'generation-defaults';

/** The defaults the user can set (options page); any of them may be missing. */
export type GenerationDefaults = Partial<Pick<GenerationSettings, 'negativePrompt' | 'steps' | 'guidance' | 'width' | 'height' | 'scheduler'>>;

/** The popup's starting values too: a common choice of SD tools for SD 1.x. */
export const MODEL_DEFAULTS = { steps: 20, guidance: 7.5 } as const;

export function settingsFromSelection(
  selection: string,
  model: ModelInfo,
  defaults: GenerationDefaults,
): { settings: GenerationSettings; cutChars: number } | undefined {
  // Selections keep the page's line breaks and runs of spaces; a prompt reads the same without them.
  const text = selection.replace(/\s+/g, ' ').trim();
  if (!text) return undefined;
  // The limit counts UTF-16 units (as `String.length`); never cut between the halves of a surrogate pair.
  let prompt = text.slice(0, LIMITS.promptChars);
  if (/[\uD800-\uDBFF]$/.test(prompt)) prompt = prompt.slice(0, -1);
  const settings: GenerationSettings = {
    prompt,
    negativePrompt: defaults.negativePrompt ?? '',
    steps: defaults.steps ?? MODEL_DEFAULTS.steps,
    guidance: defaults.guidance ?? MODEL_DEFAULTS.guidance,
    width: defaults.width ?? model.width,
    height: defaults.height ?? model.height,
    seed: null,
    scheduler: defaults.scheduler ?? model.defaultScheduler,
    model: model.id,
  };
  // Counted in characters as a reader counts them.
  return { settings, cutChars: Array.from(text).length - Array.from(prompt).length };
}

/** `value` as generation defaults: the fields that are valid settings, the others dropped. */
export function parseGenerationDefaults(value: unknown): GenerationDefaults {
  if (typeof value !== 'object' || value === null) return {};
  const out: Record<string, unknown> = {};
  const base: GenerationSettings = { prompt: 'x', negativePrompt: '', steps: 1, guidance: 1, width: 64, height: 64, seed: null, scheduler: 'ddim', model: 'tiny-sd1' };
  for (const key of ['negativePrompt', 'steps', 'guidance', 'width', 'height', 'scheduler'] as const) {
    const field = (value as Record<string, unknown>)[key];
    if (field !== undefined && settingsProblem({ ...base, [key]: field }) === undefined) out[key] = field;
  }
  return out as GenerationDefaults;
}
