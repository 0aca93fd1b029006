/**
 * The settings of a job asked for from the context menu: the selected text is the prompt (plain text: the menu hands
 * over `selectionText`, never markup), everything else comes from the defaults the options page keeps in the user's
 * preferences (`storage/preferences.ts`, the same ones the popup starts with), else the model's. A selection longer
 * than the protocol's prompt limit is cut there, and the job says how many characters were left out.
 */
import type { GenerationDefaults } from '../storage/preferences';
import { LIMITS, type GenerationSettings, type ModelInfo } from './messages';

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
  // A default size the model does not offer (set for another model) gives way to the model's own, as in the popup.
  const size = defaults.size !== null && model.sizes.includes(defaults.size) ? defaults.size : null;
  const settings: GenerationSettings = {
    prompt,
    negativePrompt: '',
    steps: defaults.steps,
    guidance: defaults.guidance,
    width: size ?? model.width,
    height: size ?? model.height,
    seed: null,
    scheduler: defaults.scheduler ?? model.defaultScheduler,
    model: model.id,
    emphasis: defaults.emphasis,
  };
  // Counted in characters as a reader counts them.
  return { settings, cutChars: Array.from(text).length - Array.from(prompt).length };
}
