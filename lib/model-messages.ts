/**
 * The model store's part of the message protocol (lib/messages.ts joins it in): what the options page and the popup
 * ask the offscreen document about stored models, installs and storage, and the `install-update` events an install
 * publishes while it runs. Plain TypeScript, validated at the receiving end like the rest of the protocol.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import { isRepoId } from '../storage/catalog';

export const WEIGHT_FORMAT_NAMES: readonly StorageFormat[] = ['f32', 'f16', 'int8', 'int4'];

/** A model in the store (complete, or an install that stopped and can be resumed). */
export interface InstalledModel {
  id: string;
  name: string;
  /** Hugging Face repository and revision it came from; null for a model imported from disk. */
  repo: string | null;
  revision: string | null;
  format: StorageFormat;
  status: 'incomplete' | 'complete';
  /** Bytes of stored weights. */
  bytes: number;
  createdAt: number;
}

/** A ready-to-install model of the catalog. */
export interface CatalogItem {
  id: string;
  name: string;
  repo: string;
  revision: string;
  description: string;
  /** Download size in bytes, approximate. */
  bytes: number | null;
  license: string;
  steps: number;
  guidance: number;
}

export interface StorageInfo {
  /** Bytes the model store holds (weights, text files, downloads in progress). */
  used: number;
  /** The browser's figures for this extension, when it gives them. */
  usage: number | null;
  quota: number | null;
  /** Whether the browser keeps this extension's data under storage pressure. */
  persisted: boolean;
}

export const INSTALL_PHASES = ['prepare', 'download', 'import', 'done', 'failed', 'cancelled'] as const;
export type InstallPhase = (typeof INSTALL_PHASES)[number];

/**
 * An install from the hub, or an import of a folder from disk, as the offscreen document reports it with every
 * change. An import goes through `prepare` (reading the folder's configuration, the space check) and `import`.
 */
export interface InstallState {
  modelId: string;
  /** The Hugging Face repository and revision; both null for an import from disk. */
  repo: string | null;
  revision: string | null;
  format: StorageFormat;
  phase: InstallPhase;
  /** The file being downloaded or stored. */
  file: string | null;
  /** Weight bytes downloaded of `total` (0 / 0 before the sizes are known). */
  bytes: number;
  total: number;
  /** Bytes per second. */
  rate: number;
  etaSeconds: number | null;
  error: { name: string; message: string } | null;
  updatedAt: number;
}

export interface ModelsOverview {
  /** The model shipped inside the extension. */
  builtin: { id: string; name: string };
  installed: InstalledModel[];
  catalog: CatalogItem[];
  /** Installs running now, and the last state of those that ended since the document started. */
  installs: InstallState[];
  storage: StorageInfo;
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isCountOrNull = (v: unknown): v is number | null => v === null || isCount(v);
const isStringOrNull = (v: unknown): v is string | null => v === null || isString(v);
export const isWeightFormat = (v: unknown): v is StorageFormat => isString(v) && (WEIGHT_FORMAT_NAMES as readonly string[]).includes(v);

const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._\-/@]{0,199}$/;
/** Model ids: a repository id, `repo@revision`, or a name given to an import; no spaces or control characters. */
export function isModelId(v: unknown): v is string {
  return isString(v) && MODEL_ID.test(v);
}

/** Git revisions: branch or tag names and commit hashes. */
export function isRevision(v: unknown): v is string {
  return isString(v) && /^[A-Za-z0-9._\-/]{1,100}$/.test(v) && !v.includes('..');
}

function isInstalledModel(v: unknown): v is InstalledModel {
  return (
    isRecord(v) &&
    isModelId(v.id) &&
    isString(v.name) &&
    isStringOrNull(v.repo) &&
    isStringOrNull(v.revision) &&
    isWeightFormat(v.format) &&
    (v.status === 'incomplete' || v.status === 'complete') &&
    isCount(v.bytes) &&
    isCount(v.createdAt)
  );
}

function isCatalogItem(v: unknown): v is CatalogItem {
  return (
    isRecord(v) &&
    isModelId(v.id) &&
    ['name', 'repo', 'revision', 'description', 'license'].every((k) => isString(v[k])) &&
    isCountOrNull(v.bytes) &&
    isCount(v.steps) &&
    isCount(v.guidance)
  );
}

export function isInstallState(v: unknown): v is InstallState {
  return (
    isRecord(v) &&
    isModelId(v.modelId) &&
    isStringOrNull(v.repo) &&
    isStringOrNull(v.revision) &&
    (v.repo === null) === (v.revision === null) &&
    isWeightFormat(v.format) &&
    isString(v.phase) &&
    (INSTALL_PHASES as readonly string[]).includes(v.phase) &&
    isStringOrNull(v.file) &&
    isCount(v.bytes) &&
    isCount(v.total) &&
    isCount(v.rate) &&
    isCountOrNull(v.etaSeconds) &&
    (v.error === null || (isRecord(v.error) && isString(v.error.name) && isString(v.error.message))) &&
    (v.phase === 'failed') === (v.error !== null) &&
    isCount(v.updatedAt)
  );
}

export function isModelsOverview(v: unknown): v is ModelsOverview {
  return (
    isRecord(v) &&
    isRecord(v.builtin) &&
    isModelId(v.builtin.id) &&
    isString(v.builtin.name) &&
    Array.isArray(v.installed) &&
    v.installed.every(isInstalledModel) &&
    Array.isArray(v.catalog) &&
    v.catalog.every(isCatalogItem) &&
    Array.isArray(v.installs) &&
    v.installs.every(isInstallState) &&
    isRecord(v.storage) &&
    isCount(v.storage.used) &&
    isCountOrNull(v.storage.usage) &&
    isCountOrNull(v.storage.quota) &&
    typeof v.storage.persisted === 'boolean'
  );
}

/** Why an install request's fields are not valid (a sentence), or undefined when they are. */
export function installProblem(message: Json): string | undefined {
  if (!isString(message.repo) || !isRepoId(message.repo.trim())) return 'the repository must be a Hugging Face id of the form owner/name';
  if (!isRevision(message.revision)) return 'the revision must be a branch, tag or commit name';
  if (!isWeightFormat(message.format)) return `the weight format must be one of ${WEIGHT_FORMAT_NAMES.join(', ')}`;
  return undefined;
}
