/** Which models the popup offers, which one it opens with, and when it shows the first-run screen instead. */
import type { JobState } from './messages';
import type { ModelsOverview } from './model-messages';
import type { Preferences } from '../storage/preferences';

/** The built-in model, then the complete stored ones, newest first. */
export function modelChoices(overview: ModelsOverview): { id: string; name: string }[] {
  const stored = overview.installed.filter((m) => m.status === 'complete').sort((a, b) => b.createdAt - a.createdAt);
  return [overview.builtin, ...stored.map((m) => ({ id: m.id, name: `${m.name} (${m.format})` }))];
}

/** The preferred model when it is there; else the newest stored one; else the built-in one. */
export function chooseModel(overview: ModelsOverview, preferences: Preferences): string {
  const choices = modelChoices(overview);
  if (preferences.model !== null && choices.some((m) => m.id === preferences.model)) return preferences.model;
  return (choices[1] ?? choices[0]!).id;
}

/** No model downloaded yet, no job to show, and the user has not chosen to go on with the demo model. */
export function needsFirstRun(overview: ModelsOverview | undefined, preferences: Preferences | undefined, job: JobState | null | undefined): boolean {
  if (!overview || !preferences || job !== null) return false;
  return !preferences.firstRunDone && !overview.installed.some((m) => m.status === 'complete');
}
