/**
 * The user's preferences, kept in the `settings` store under one key: the Hugging Face endpoint installs download
 * from, the popup's default generation settings, and the engine's tuning (weight format of new installs, attention
 * chunk budget, memory mode). The options page writes them, the popup and the offscreen document read them; all
 * three are pages of the extension's origin, so they share the database. A stored value that is missing a key or
 * holds one out of range (an older version wrote it, or it was edited) falls back to the default for that key.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import type { MemoryMode } from '../engine/pipeline';
import { SCHEDULER_NAMES, type SchedulerName } from '../engine/schedulers/types';
import { getSetting, setSetting, type StoreDB } from './db';
import { HUB_BASE } from './hub';

export const PREFERENCES_KEY = 'preferences';
export const WEIGHT_FORMATS: readonly StorageFormat[] = ['f32', 'f16', 'int8', 'int4'];
export const MEMORY_MODES: readonly MemoryMode[] = ['fast', 'low'];
/** Attention budgets offered, in MiB: 512-token chunks of SD 1.5 at the default 128; smaller splits further. */
export const ATTENTION_BUDGETS_MIB = [16, 32, 64, 128, 256, 512] as const;

export interface GenerationDefaults {
  /** Null: the scheduler the model folder names. */
  scheduler: SchedulerName | null;
  steps: number;
  guidance: number;
  /** Null: the model's native size. */
  size: number | null;
  /** Prompt weighting: "(word:1.2)" and A1111's other brackets weigh words (engine/tokenizer/emphasis.ts). */
  emphasis: boolean;
}

export interface Preferences {
  /** Base address of the hub (like huggingface_hub's HF_ENDPOINT): huggingface.co or a mirror. */
  hubEndpoint: string;
  defaults: GenerationDefaults;
  /** The weight format new installs and imports are stored in. */
  weightFormat: StorageFormat;
  attentionBudgetMiB: number;
  memory: MemoryMode;
  /** The model the popup opens with (a stored model's id or the built-in one's); null: the newest installed. */
  model: string | null;
  /** The user chose to go on with the built-in demo model on the first-run screen. */
  firstRunDone: boolean;
}

export const DEFAULT_PREFERENCES: Preferences = {
  hubEndpoint: HUB_BASE,
  defaults: { scheduler: null, steps: 20, guidance: 7.5, size: null, emphasis: true },
  weightFormat: 'f16',
  attentionBudgetMiB: 128,
  memory: 'fast',
  model: null,
  firstRunDone: false,
};

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/** Why `url` cannot be the hub endpoint (a sentence), or undefined when it can. */
export function endpointProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a web address: give one like https://huggingface.co`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'the endpoint must be an http or https address';
  if (parsed.search || parsed.hash || parsed.username || parsed.password) return 'the endpoint must be a plain address, without query, fragment or credentials';
  return undefined;
}

/** The endpoint as `resolveUrl` joins it: no trailing slash. */
export function normalizeEndpoint(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/** `value` read as preferences: each valid key kept, every other one the default. */
export function readPreferences(value: unknown): Preferences {
  const v = isRecord(value) ? value : {};
  const d = isRecord(v.defaults) ? v.defaults : {};
  const base = DEFAULT_PREFERENCES;
  return {
    hubEndpoint: typeof v.hubEndpoint === 'string' && endpointProblem(v.hubEndpoint) === undefined ? normalizeEndpoint(v.hubEndpoint) : base.hubEndpoint,
    defaults: {
      scheduler: d.scheduler === null || (typeof d.scheduler === 'string' && (SCHEDULER_NAMES as readonly string[]).includes(d.scheduler)) ? (d.scheduler as SchedulerName | null) : base.defaults.scheduler,
      steps: isInt(d.steps, 1, 150) ? d.steps : base.defaults.steps,
      guidance: typeof d.guidance === 'number' && d.guidance >= 0 && d.guidance <= 30 ? d.guidance : base.defaults.guidance,
      size: d.size === null || (isInt(d.size, 64, 2048) && d.size % 8 === 0) ? (d.size as number | null) : base.defaults.size,
      emphasis: typeof d.emphasis === 'boolean' ? d.emphasis : base.defaults.emphasis,
    },
    weightFormat: WEIGHT_FORMATS.includes(v.weightFormat as StorageFormat) ? (v.weightFormat as StorageFormat) : base.weightFormat,
    attentionBudgetMiB: (ATTENTION_BUDGETS_MIB as readonly number[]).includes(v.attentionBudgetMiB as number) ? (v.attentionBudgetMiB as number) : base.attentionBudgetMiB,
    memory: MEMORY_MODES.includes(v.memory as MemoryMode) ? (v.memory as MemoryMode) : base.memory,
    model: typeof v.model === 'string' && v.model.length > 0 && v.model.length <= 200 ? v.model : null,
    firstRunDone: v.firstRunDone === true,
  };
}

export async function loadPreferences(db: StoreDB): Promise<Preferences> {
  return readPreferences(await getSetting(db, PREFERENCES_KEY));
}

/** Stores `patch` over the current preferences; returns the result as it will be read back. */
export async function savePreferences(db: StoreDB, patch: Partial<Preferences>): Promise<Preferences> {
  const next = readPreferences({ ...(await loadPreferences(db)), ...patch });
  await setSetting(db, PREFERENCES_KEY, next);
  return next;
}
