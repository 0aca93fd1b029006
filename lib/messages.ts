/**
 * The message protocol between the extension's contexts, declared once.
 *
 *   popup / options ──request──▶ background (job queue) ──request, target 'offscreen'──▶ offscreen document (runner)
 *                   ◀─response──                        ◀────────────response──────────            │
 *                   ◀────────────────── event, target 'broadcast' (job updates) ──────────────────┘
 *
 * `runtime.sendMessage` reaches every extension context except the sender, so a request names the context that must
 * answer it (`target`) and every other context stays silent: a reply channel takes the first answer only. Messages
 * are JSON (sendMessage serialises them), and the receiving end validates everything it is handed: the sender must
 * be one of this extension's own pages and the payload must match the types below. A generation answers its request
 * at once with the queued job; the background's queue (persisted) hands jobs to the offscreen document one at a time
 * (`run-job`), and their progress, preview and result follow as `job-update` events, which every open page and the
 * queue receive, so a popup opened while a job runs picks it up (after asking for the `jobs`) and the job never
 * depends on the page that started it. Images travel as data URLs or gallery keys, never as arrays. This module is
 * plain TypeScript (no extension API), so its checks are the same in every context.
 */
import type { AdapterFeatures, AdapterSummary } from '../engine/gpu/device';
import type { StorageFormat } from '../engine/gpu/tensor';
import { SCHEDULER_NAMES, type SchedulerName } from '../engine/schedulers/types';
import { installProblem, isInstallState, isModelId, isModelsOverview, type InstallState, type ModelsOverview } from './model-messages';

export const TARGETS = ['background', 'offscreen', 'broadcast'] as const;
/** 'broadcast': events for every other context (pages render them, the background badges them); nobody answers them. */
export type Target = (typeof TARGETS)[number];

/** What the engine reports about itself: the adapter it runs on and whether a kernel matched the CPU reference. */
export interface EngineStatus {
  adapter: AdapterSummary;
  /** One line for display, `adapterName(adapter)`. */
  adapterName: string;
  selfCheck: {
    passed: boolean;
    /** max |gpu − cpu| / max |cpu| over the check's values; null when the GPU returned NaN or infinity. */
    relativeError: number | null;
  };
}

/** The model jobs run on and the settings it accepts. */
export interface ModelInfo {
  /** Short name, written into the PNG parameters (`Model: …`). */
  id: string;
  /** For display. */
  name: string;
  /** The size the model was trained at. */
  width: number;
  height: number;
  /** Widths and heights the popup offers, ascending; all multiples of the model's VAE factor (8 for SD). */
  sizes: number[];
  /** The scheduler the model folder names. */
  defaultScheduler: SchedulerName;
}

// Bounds of the protocol, wider than any sensible use: CLIP reads 77 tokens of a prompt (longer ones are cut, and the
// job says by how much), A1111 offers at most 150 steps and guidance 30, and 2048 pixels a side is 16 times SD 1.5's
// native area.
export const LIMITS = {
  promptChars: 2000,
  steps: { min: 1, max: 150 },
  guidance: { min: 0, max: 30 },
  size: { min: 64, max: 2048, multiple: 8 },
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER },
  // img2img: how much of the starting image is noised away (diffusers' `strength`); 0 would change nothing.
  strength: { min: 0.01, max: 1 },
} as const;

/** img2img: a gallery image to start from (an IndexedDB key: images never travel inside messages as arrays). */
export interface StartImage {
  galleryId: number;
  /** 0–1: how much of the starting image is replaced; 1 keeps nothing of it but its colours' noise. */
  strength: number;
  /**
   * Inpainting: which part of the starting image to repaint, as a PNG data URL (white repaints, black keeps; the
   * red channel is read), scaled to the job's size when the job runs. Absent: the whole image is changed.
   */
  mask?: string;
}

/** What a user asks for; the model's own rules (size multiples) are checked by the engine when the job runs. */
export interface GenerationSettings {
  prompt: string;
  /** Used when guidance is above 1 (classifier-free guidance); empty for none. */
  negativePrompt: string;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  /** A fixed seed, or null for a random one (chosen when the job is created and reported as `JobState.seed`). */
  seed: number | null;
  scheduler: SchedulerName;
  /** img2img from a gallery image; absent for txt2img. */
  startImage?: StartImage;
  /** The model to run: a stored model's id or the built-in one's. */
  model: string;
  /**
   * Prompt weighting ("(word:1.2)", A1111's syntax) for both prompts, from the user's preference when the job was
   * made; absent (jobs and gallery items from before it existed): brackets are text.
   */
  emphasis?: boolean;
}

export const JOB_STATUSES = ['queued', 'running', 'cancelling', 'done', 'cancelled', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Whether the job is still to finish: queued, running or cancelling. */
export function isActive(job: JobState | null): boolean {
  return job !== null && (job.status === 'queued' || job.status === 'running' || job.status === 'cancelling');
}

export const JOB_STAGES = ['queued', 'load', 'text', 'encode', 'denoise', 'decode'] as const;
export type JobStage = (typeof JOB_STAGES)[number];
const TIMING_KEYS = ['load', 'text', 'encode', 'denoise', 'decode', 'total'] as const;
export type TimingKey = (typeof TIMING_KEYS)[number];

export interface JobResult {
  /** The image as a PNG data URL carrying the generation parameters (A1111's `parameters` text chunk). */
  image: string;
  width: number;
  height: number;
  /** Prompt tokens past CLIP's 77-token window, which were cut. */
  truncated: { prompt: number; negativePrompt: number };
  /** The text of those tokens, for the user to see what the model did not read; '' when nothing was cut. */
  cutText: { prompt: string; negativePrompt: string };
  /** Milliseconds per stage, and the whole job from start to PNG. */
  timings: Partial<Record<TimingKey, number>>;
  /** Where the image was kept in the history (gallery key), or why it could not be (the image is here either way). */
  gallery: { id: number } | { error: string };
}

export const JOB_SOURCES = ['popup', 'menu'] as const;
/** Where a job was asked for: the popup, or the context menu on selected text. */
export type JobSource = (typeof JOB_SOURCES)[number];

/** One generation, as the offscreen document reports it with every change. */
export interface JobState {
  jobId: string;
  /** Epoch milliseconds; a later job replaces an earlier one in the popup. */
  createdAt: number;
  /** Grows with every update of this job, so a late message never replaces a newer one. */
  version: number;
  status: JobStatus;
  source: JobSource;
  /** Characters of the selected text past the prompt limit, left out of a menu job's prompt (0 when none were). */
  cutChars: number;
  settings: GenerationSettings;
  /** The seed used: the fixed one, or the random one drawn for this job. */
  seed: number;
  model: string;
  progress: {
    stage: JobStage;
    /** Within the stage (denoise: steps done of the scheduler's steps). */
    step: number;
    steps: number;
    /** The whole job: text encoding, each denoise step and decoding count one each. */
    done: number;
    total: number;
  };
  /** Latents rendered without the VAE, as a small PNG data URL; null before the first denoise step. */
  preview: string | null;
  /** Estimated milliseconds left as of `updatedAt`; null until there is a basis for one. */
  etaMs: number | null;
  updatedAt: number;
  result: JobResult | null;
  /** Why a failed job failed: the engine's error class name and message. */
  error: { name: string; message: string } | null;
}

/** A tuning table row for display (engine/tune/table.ts `tuningRows`). */
export interface TunerRow {
  op: 'gemm' | 'conv' | 'conv-algorithm' | 'attention';
  shape: string;
  default: string;
  chosen: string;
  defaultMs: number;
  ms: number;
}

/** The auto-tuner in the offscreen document: the run in progress or the last one, and the stored table. */
export interface TunerState {
  status: 'idle' | 'running' | 'done' | 'failed';
  /** Op shapes finished and in all, of the current or last run. */
  done: number;
  total: number;
  /** The op shape finished last. */
  current: string | null;
  elapsedMs: number;
  budgetMs: number;
  /** The stored table for this adapter: its date and rows; none before the first run. */
  updated: string | null;
  rows: TunerRow[];
  error: { name: string; message: string } | null;
}

/** Seconds a tuning run may take, as the options page offers them. */
export const TUNER_BUDGET_SECONDS = { min: 10, max: 3600 } as const;

/** Every request type with the value its `result` carries. */
export interface Results {
  'engine-status': EngineStatus;
  'model-info': ModelInfo;
  /** The new job, queued (it starts when the ones before it have finished). */
  generate: JobState;
  /** Whether the job was still queued or running; false when it had already ended or is unknown. */
  cancel: { cancelled: boolean };
  /** Whether a failed job was kept for the pages (failed jobs stay until dismissed or a new popup job starts). */
  'dismiss-job': { dismissed: boolean };
  /** The running job, else the first queued one, else the last finished one; null when there was none. */
  'job-state': JobState | null;
  /** Starts a tuning run (unless one is running) and answers at once; `tuner-state` follows it. */
  'run-tuner': TunerState;
  'tuner-state': TunerState;
  /** The queue in order: the jobs that ended and are kept (failures not dismissed, the last to end), then those still to finish. */
  jobs: JobState[];
  /** Background → offscreen: the job was taken and runs now (its updates follow as events). */
  'run-job': { accepted: true };
  /** Background → offscreen: the job the offscreen document runs, and the last one it finished, if any. */
  'runner-state': { running: JobState | null; finished: JobState | null };
  /** Stored models, the catalog, installs and storage. */
  'list-models': ModelsOverview;
  /** The install, started (or joined, when that model is installing already). */
  'install-model': InstallState;
  /** Whether an install of that model was running. */
  'cancel-install': { cancelled: boolean };
  /** Whether a model with that id was stored. */
  'delete-model': { deleted: boolean };
  /**
   * Asked before a page hands a folder to import over the import channel (lib/import-channel.ts): the background
   * creates the offscreen document if needed, and its answer, the channel's name, says it listens there.
   */
  'open-import': { channel: string };
}
export type RequestType = keyof Results;

interface RequestBase<T extends RequestType> {
  target: Target;
  type: T;
  id: string;
}
export type EngineStatusRequest = RequestBase<'engine-status'>;
export interface ModelInfoRequest extends RequestBase<'model-info'> {
  /** A stored model's id or the built-in one's; absent: the built-in model. */
  model?: string;
}
export type JobStateRequest = RequestBase<'job-state'>;
export type JobsRequest = RequestBase<'jobs'>;
export type RunnerStateRequest = RequestBase<'runner-state'>;
export interface RunJobRequest extends RequestBase<'run-job'> {
  job: JobState;
}
export interface GenerateRequest extends RequestBase<'generate'> {
  settings: GenerationSettings;
}
export interface CancelRequest extends RequestBase<'cancel'> {
  jobId: string;
}
export interface DismissJobRequest extends RequestBase<'dismiss-job'> {
  jobId: string;
}
export interface RunTunerRequest extends RequestBase<'run-tuner'> {
  budgetSeconds: number;
}
export type TunerStateRequest = RequestBase<'tuner-state'>;
export type ListModelsRequest = RequestBase<'list-models'>;
export interface InstallModelRequest extends RequestBase<'install-model'> {
  /** Hugging Face repository id, `owner/name`. */
  repo: string;
  revision: string;
  format: StorageFormat;
}
export interface CancelInstallRequest extends RequestBase<'cancel-install'> {
  modelId: string;
}
export interface DeleteModelRequest extends RequestBase<'delete-model'> {
  modelId: string;
}
export type OpenImportRequest = RequestBase<'open-import'>;
export type RequestMessage =
  | EngineStatusRequest
  | ModelInfoRequest
  | GenerateRequest
  | CancelRequest
  | DismissJobRequest
  | JobStateRequest
  | JobsRequest
  | RunJobRequest
  | RunnerStateRequest
  | ListModelsRequest
  | InstallModelRequest
  | CancelInstallRequest
  | DeleteModelRequest
  | OpenImportRequest
  | RunTunerRequest
  | TunerStateRequest;
export type RequestOf<T extends RequestType> = Extract<RequestMessage, { type: T }>;
/** What a request of type T carries besides its address, type and id. */
export type PayloadOf<T extends RequestType> = Omit<RequestOf<T>, 'target' | 'type' | 'id'>;

export interface ResultResponse<T extends RequestType = RequestType> {
  type: 'result';
  id: string;
  value: Results[T];
}

/** A failure, carrying the engine's error class name (`WebGPUNotFoundError`, …) so the UI can say what to do. */
export interface ErrorResponse {
  type: 'error';
  id: string;
  name: string;
  message: string;
}

export type ResponseMessage<T extends RequestType = RequestType> = ResultResponse<T> | ErrorResponse;

/** A job changed: sent by the offscreen document to every other context; nobody answers. */
export interface JobUpdateEvent {
  target: 'broadcast';
  type: 'job-update';
  job: JobState;
}
/** An install changed (progress, its end): sent by the offscreen document to every other context. */
export interface InstallUpdateEvent {
  target: 'broadcast';
  type: 'install-update';
  install: InstallState;
}
export type EventMessage = JobUpdateEvent | InstallUpdateEvent;

/** A message that is not part of the protocol, or comes from outside this extension. */
export class MessageError extends Error {
  override readonly name = 'MessageError';
}

/** The engine-side error of an `error` response, rethrown where the request was made; keeps the remote name. */
export class RemoteError extends Error {
  constructor(response: ErrorResponse) {
    super(response.message);
    this.name = response.name;
  }
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isWholeNumber(value: unknown, min: number, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

function isOneOf<T extends string>(values: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (values as readonly string[]).includes(value);
}

function isFeatures(value: unknown): value is AdapterFeatures {
  return isRecord(value) && ['shaderF16', 'subgroups', 'timestampQuery'].every((k) => typeof value[k] === 'boolean');
}

function isAdapterSummary(value: unknown): value is AdapterSummary {
  return (
    isRecord(value) &&
    ['vendor', 'architecture', 'device', 'description'].every((k) => typeof value[k] === 'string') &&
    isFeatures(value.features) &&
    isRecord(value.limits) &&
    Object.values(value.limits).every(isFiniteNumber)
  );
}

function isEngineStatus(value: unknown): value is EngineStatus {
  return (
    isRecord(value) &&
    isAdapterSummary(value.adapter) &&
    typeof value.adapterName === 'string' &&
    isRecord(value.selfCheck) &&
    typeof value.selfCheck.passed === 'boolean' &&
    (value.selfCheck.relativeError === null || isFiniteNumber(value.selfCheck.relativeError))
  );
}

const isSize = (v: unknown): v is number => isWholeNumber(v, LIMITS.size.min, LIMITS.size.max) && v % LIMITS.size.multiple === 0;

function isModelInfo(value: unknown): value is ModelInfo {
  return (
    isRecord(value) &&
    isNonEmptyString(value.id) &&
    typeof value.name === 'string' &&
    isSize(value.width) &&
    isSize(value.height) &&
    Array.isArray(value.sizes) &&
    value.sizes.every(isSize) &&
    isOneOf(SCHEDULER_NAMES, value.defaultScheduler)
  );
}

/** Why `value` is not valid generation settings (a sentence for the user), or undefined when it is. */
export function settingsProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'the settings are missing';
  const keys: (keyof GenerationSettings)[] = ['prompt', 'negativePrompt', 'steps', 'guidance', 'width', 'height', 'seed', 'scheduler', 'startImage', 'model', 'emphasis'];
  const extra = Object.keys(value).filter((k) => !(keys as string[]).includes(k));
  if (extra.length) return `unexpected settings: ${extra.join(', ')}`;
  for (const key of ['prompt', 'negativePrompt'] as const) {
    const text = value[key];
    if (typeof text !== 'string') return `the ${key === 'prompt' ? 'prompt' : 'negative prompt'} must be text`;
    if (text.length > LIMITS.promptChars) return `the ${key === 'prompt' ? 'prompt' : 'negative prompt'} can be at most ${LIMITS.promptChars} characters`;
  }
  if (!(value.prompt as string).trim()) return 'describe the image in the prompt';
  const { steps, guidance, size, seed } = LIMITS;
  if (!isWholeNumber(value.steps, steps.min, steps.max)) return `steps must be a whole number from ${steps.min} to ${steps.max}`;
  if (!isFiniteNumber(value.guidance) || value.guidance < guidance.min || value.guidance > guidance.max) {
    return `guidance must be a number from ${guidance.min} to ${guidance.max}`;
  }
  for (const key of ['width', 'height'] as const) {
    if (!isSize(value[key])) return `the ${key} must be a multiple of ${size.multiple} from ${size.min} to ${size.max} pixels`;
  }
  if (value.seed !== null && !isWholeNumber(value.seed, seed.min, seed.max)) return `the seed must be a whole number from ${seed.min} to ${seed.max}, or empty for a random one`;
  if (!isOneOf(SCHEDULER_NAMES, value.scheduler)) return `the scheduler must be one of ${SCHEDULER_NAMES.join(', ')}`;
  if (value.startImage !== undefined) {
    const start = value.startImage;
    if (!isRecord(start) || Object.keys(start).some((k) => k !== 'galleryId' && k !== 'strength' && k !== 'mask') || !isWholeNumber(start.galleryId, 1, Number.MAX_SAFE_INTEGER)) {
      return 'the starting image must be an image of the history';
    }
    if (!isFiniteNumber(start.strength) || start.strength < LIMITS.strength.min || start.strength > LIMITS.strength.max) {
      return `the strength must be a number from ${LIMITS.strength.min} to ${LIMITS.strength.max}`;
    }
    if (start.mask !== undefined && !isPngDataUrl(start.mask, MAX_MASK_CHARS)) {
      return `the mask must be a PNG image (data:image/png;base64) of at most ${MAX_MASK_CHARS / 1024 / 1024} MiB`;
    }
  }
  if (!isModelId(value.model)) return 'choose a model';
  if (value.emphasis !== undefined && typeof value.emphasis !== 'boolean') return 'prompt weighting must be on or off';
  return undefined;
}

const MAX_DATA_URL_CHARS = 64 * 1024 * 1024;
// A mask travels with every job's settings (the queue lives in storage.session, 10 MB for all jobs) and gallery item;
// painted strokes on 2048² compress to well under this.
const MAX_MASK_CHARS = 1024 * 1024;
function isPngDataUrl(value: unknown, maxChars = MAX_DATA_URL_CHARS): value is string {
  return typeof value === 'string' && value.length <= maxChars && /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/.test(value);
}

function isJobResult(value: unknown): value is JobResult {
  return (
    isRecord(value) &&
    isPngDataUrl(value.image) &&
    isSize(value.width) &&
    isSize(value.height) &&
    isRecord(value.truncated) &&
    isWholeNumber(value.truncated.prompt, 0, Infinity) &&
    isWholeNumber(value.truncated.negativePrompt, 0, Infinity) &&
    isRecord(value.cutText) &&
    (['prompt', 'negativePrompt'] as const).every((k) => {
      const cut = (value.cutText as Json)[k];
      // Cut text is a part of the prompt, so never longer than a prompt may be; empty exactly when nothing was cut.
      return typeof cut === 'string' && cut.length <= LIMITS.promptChars && (cut === '') === ((value.truncated as Json)[k] === 0);
    }) &&
    isRecord(value.timings) &&
    Object.entries(value.timings).every(([k, v]) => isOneOf(TIMING_KEYS, k) && isFiniteNumber(v) && v >= 0) &&
    isRecord(value.gallery) &&
    (isWholeNumber(value.gallery.id, 1, Number.MAX_SAFE_INTEGER) || typeof value.gallery.error === 'string')
  );
}

function isProgress(value: unknown): value is JobState['progress'] {
  return (
    isRecord(value) &&
    isOneOf(JOB_STAGES, value.stage) &&
    ['step', 'steps', 'done', 'total'].every((k) => isWholeNumber(value[k], 0, Infinity)) &&
    (value.step as number) <= (value.steps as number) &&
    (value.done as number) <= (value.total as number)
  );
}

function isJobState(value: unknown): value is JobState {
  if (!isRecord(value)) return false;
  const { error } = value;
  return (
    isNonEmptyString(value.jobId) &&
    isFiniteNumber(value.createdAt) &&
    isWholeNumber(value.version, 0, Infinity) &&
    isOneOf(JOB_STATUSES, value.status) &&
    isOneOf(JOB_SOURCES, value.source) &&
    isWholeNumber(value.cutChars, 0, Number.MAX_SAFE_INTEGER) &&
    settingsProblem(value.settings) === undefined &&
    isWholeNumber(value.seed, LIMITS.seed.min, LIMITS.seed.max) &&
    typeof value.model === 'string' &&
    isProgress(value.progress) &&
    (value.preview === null || isPngDataUrl(value.preview)) &&
    (value.etaMs === null || (isFiniteNumber(value.etaMs) && value.etaMs >= 0)) &&
    isFiniteNumber(value.updatedAt) &&
    (value.result === null || isJobResult(value.result)) &&
    (error === null || (isRecord(error) && isNonEmptyString(error.name) && typeof error.message === 'string')) &&
    // What a page shows depends on these agreeing: a finished job has its image, a failed one its reason.
    (value.status === 'done') === (value.result !== null) &&
    (value.status === 'failed') === (error !== null)
  );
}

const TUNER_OPS = ['gemm', 'conv', 'conv-algorithm', 'attention'] as const;

function isTunerRow(value: unknown): value is TunerRow {
  return (
    isRecord(value) &&
    isOneOf(TUNER_OPS, value.op) &&
    ['shape', 'default', 'chosen'].every((k) => typeof value[k] === 'string') &&
    isFiniteNumber(value.defaultMs) &&
    isFiniteNumber(value.ms)
  );
}

function isTunerState(value: unknown): value is TunerState {
  if (!isRecord(value)) return false;
  const { error } = value;
  return (
    isOneOf(['idle', 'running', 'done', 'failed'] as const, value.status) &&
    isWholeNumber(value.done, 0, Infinity) &&
    isWholeNumber(value.total, 0, Infinity) &&
    (value.done as number) <= (value.total as number) &&
    (value.current === null || typeof value.current === 'string') &&
    isFiniteNumber(value.elapsedMs) &&
    isFiniteNumber(value.budgetMs) &&
    (value.updated === null || typeof value.updated === 'string') &&
    Array.isArray(value.rows) &&
    value.rows.every(isTunerRow) &&
    (error === null || (isRecord(error) && isNonEmptyString(error.name) && typeof error.message === 'string')) &&
    (value.status === 'failed') === (error !== null)
  );
}

const RESULT_CHECKS: { [T in RequestType]: (value: unknown) => value is Results[T] } = {
  'engine-status': isEngineStatus,
  'model-info': isModelInfo,
  generate: isJobState,
  cancel: (value): value is Results['cancel'] => isRecord(value) && typeof value.cancelled === 'boolean',
  'dismiss-job': (value): value is Results['dismiss-job'] => isRecord(value) && typeof value.dismissed === 'boolean',
  'job-state': (value): value is Results['job-state'] => value === null || isJobState(value),
  'run-tuner': isTunerState,
  'tuner-state': isTunerState,
  jobs: (value): value is Results['jobs'] => Array.isArray(value) && value.every(isJobState),
  'run-job': (value): value is Results['run-job'] => isRecord(value) && value.accepted === true,
  'runner-state': (value): value is Results['runner-state'] =>
    isRecord(value) && (value.running === null || isJobState(value.running)) && (value.finished === null || isJobState(value.finished)),
  'list-models': isModelsOverview,
  'install-model': isInstallState,
  'cancel-install': (value): value is Results['cancel-install'] => isRecord(value) && typeof value.cancelled === 'boolean',
  'delete-model': (value): value is Results['delete-model'] => isRecord(value) && typeof value.deleted === 'boolean',
  'open-import': (value): value is Results['open-import'] => isRecord(value) && isNonEmptyString(value.channel),
};

const JOB_ID_MAX_CHARS = 100;

/** Each request type's fields besides target, type and id, read from a message (MessageError when malformed). */
const PAYLOAD_PARSERS: { [T in RequestType]: { fields: readonly string[]; parse(message: Json): PayloadOf<T> } } = {
  'engine-status': { fields: [], parse: () => ({}) },
  'model-info': {
    fields: ['model'],
    parse(message) {
      if (message.model === undefined) return {};
      if (!isModelId(message.model)) throw new MessageError('model-info request with an invalid model id');
      return { model: message.model };
    },
  },
  'job-state': { fields: [], parse: () => ({}) },
  'tuner-state': { fields: [], parse: () => ({}) },
  'run-tuner': {
    fields: ['budgetSeconds'],
    parse(message) {
      const { min, max } = TUNER_BUDGET_SECONDS;
      if (!isWholeNumber(message.budgetSeconds, min, max)) throw new MessageError(`run-tuner request: the budget must be a whole number of seconds from ${min} to ${max}`);
      return { budgetSeconds: message.budgetSeconds };
    },
  },
  jobs: { fields: [], parse: () => ({}) },
  'runner-state': { fields: [], parse: () => ({}) },
  'run-job': {
    fields: ['job'],
    parse(message) {
      if (!isJobState(message.job)) throw new MessageError('run-job request without a valid job');
      return { job: message.job };
    },
  },
  generate: {
    fields: ['settings'],
    parse(message) {
      const problem = settingsProblem(message.settings);
      if (problem !== undefined) throw new MessageError(`generate request: ${problem}`);
      return { settings: message.settings as GenerationSettings };
    },
  },
  'list-models': { fields: [], parse: () => ({}) },
  'install-model': {
    fields: ['repo', 'revision', 'format'],
    parse(message) {
      const problem = installProblem(message);
      if (problem !== undefined) throw new MessageError(`install-model request: ${problem}`);
      return { repo: (message.repo as string).trim(), revision: message.revision as string, format: message.format as StorageFormat };
    },
  },
  'cancel-install': { fields: ['modelId'], parse: (message) => ({ modelId: modelIdOf(message) }) },
  'delete-model': { fields: ['modelId'], parse: (message) => ({ modelId: modelIdOf(message) }) },
  'open-import': { fields: [], parse: () => ({}) },
  cancel: { fields: ['jobId'], parse: (message) => ({ jobId: jobIdOf(message) }) },
  'dismiss-job': { fields: ['jobId'], parse: (message) => ({ jobId: jobIdOf(message) }) },
};

function jobIdOf(message: Json): string {
  const { jobId } = message;
  if (!isNonEmptyString(jobId) || jobId.length > JOB_ID_MAX_CHARS) throw new MessageError(`${String(message.type)} request without a valid jobId`);
  return jobId;
}

function modelIdOf(message: Json): string {
  if (!isModelId(message.modelId)) throw new MessageError(`${String(message.type)} request without a valid modelId`);
  return message.modelId;
}

function isRequestType(value: unknown): value is RequestType {
  return typeof value === 'string' && Object.hasOwn(RESULT_CHECKS, value);
}

/**
 * The context a message is addressed to. Messages without a valid target are the background's to answer, so a
 * malformed message gets exactly one answer (an error) rather than none or several.
 */
export function addressee(message: unknown): Target {
  const target = isRecord(message) ? message.target : undefined;
  return TARGETS.find((t) => t === target) ?? 'background';
}

/** The request `message` is, or a MessageError saying why it is none. */
export function parseRequest(message: unknown): RequestMessage {
  if (!isRecord(message)) throw new MessageError(`expected a request object, got ${describe(message)}`);
  if (!isNonEmptyString(message.id)) throw new MessageError('request without an id');
  if (!isRequestType(message.type)) throw new MessageError(`unknown request type ${describe(message.type)}`);
  const { fields, parse } = PAYLOAD_PARSERS[message.type];
  const extra = Object.keys(message).filter((k) => !['target', 'type', 'id', ...fields].includes(k));
  if (extra.length) throw new MessageError(`${message.type} request with unexpected fields: ${extra.join(', ')}`);
  return { ...parse(message), target: addressee(message), type: message.type, id: message.id } as RequestMessage;
}

/** The event `message` is, or a MessageError saying why it is none. */
export function parseEvent(message: unknown): EventMessage {
  if (!isRecord(message) || message.target !== 'broadcast') throw new MessageError(`expected an event, got ${describe(message)}`);
  if (message.type === 'install-update') {
    if (!isInstallState(message.install)) throw new MessageError('malformed install-update event');
    return { target: 'broadcast', type: 'install-update', install: message.install };
  }
  if (message.type !== 'job-update') throw new MessageError(`unknown event type ${describe(message.type)}`);
  if (!isJobState(message.job)) throw new MessageError('malformed job-update event');
  return { target: 'broadcast', type: 'job-update', job: message.job };
}

/** The response to `request` that `message` is, or a MessageError saying why it is none. */
export function parseResponse<T extends RequestType>(message: unknown, request: RequestOf<T>): ResponseMessage<T> {
  if (!isRecord(message)) throw new MessageError(`expected a response to ${request.type}, got ${describe(message)}`);
  if (message.id !== request.id) throw new MessageError(`response for ${describe(message.id)} to request ${request.id}`);
  const { id } = request;
  switch (message.type) {
    case 'result':
      if (!RESULT_CHECKS[request.type](message.value)) throw new MessageError(`malformed ${request.type} result`);
      return { type: 'result', id, value: message.value as Results[T] };
    case 'error':
      if (!isNonEmptyString(message.name) || typeof message.message !== 'string') throw new MessageError('malformed error response');
      return { type: 'error', id, name: message.name, message: message.message };
    default:
      throw new MessageError(`unknown response type ${describe(message.type)}`);
  }
}

export function resultResponse<T extends RequestType>(request: RequestOf<T>, value: Results[T]): ResultResponse<T> {
  return { type: 'result', id: request.id, value };
}

/** `error` as a response; `id` is empty when the request was too malformed to have one. */
export function errorResponse(id: string, error: unknown): ErrorResponse {
  if (error instanceof Error) return { type: 'error', id, name: error.name, message: error.message };
  return { type: 'error', id, name: 'Error', message: String(error) };
}

/** The id of `message` when it has one, so even a rejected request can be answered in kind. */
export function messageId(message: unknown): string {
  return isRecord(message) && typeof message.id === 'string' ? message.id : '';
}

/**
 * Whether a message was sent by one of this extension's own pages. `sender.id` alone also admits this extension's
 * content scripts, which run inside web pages; the page URL must be under the extension's origin as well.
 */
export function isFromThisExtension(sender: { id?: string; url?: string }, extensionId: string, extensionOrigin: string): boolean {
  return sender.id === extensionId && typeof sender.url === 'string' && sender.url.startsWith(extensionOrigin);
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
}
