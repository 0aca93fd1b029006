/**
 * The model store as the offscreen document holds it: the IndexedDB database, the installs from the hub and the
 * imports of folders from disk (which run here, so they go on when the options page closes; an install that a
 * browser restart or a crash of this document stopped resumes on its own, from its persisted download state, when the
 * document starts again — see storage/install-records.ts), deletion, and the overview the pages show. Every change
 * of an install or import is published as an `install-update` event, at most a few times a second while bytes arrive.
 */
import type { StorageFormat } from '../../engine/gpu/tensor';
import type { ModelFiles } from '../../engine/pipeline';
import { BUILTIN_MODEL } from '../../lib/builtin-model';
import type { CatalogItem, InstallState, InstalledModel, ModelsOverview, StorageInfo } from '../../lib/model-messages';
import { CATALOG, hubModel, type CatalogEntry } from '../../storage/catalog';
import { openStore, type StoreDB } from '../../storage/db';
import { ModelBusyError } from '../../storage/errors';
import { installFromHub, type InstallProgress } from '../../storage/install';
import { importFolder, localModelId, type LocalFile } from '../../storage/local-import';
import { loadInstallRecords, resumesOnStart, setInstallRecord, type InstallRecord } from '../../storage/install-records';
import { deleteModel, listModels, openStoredModel, storageUsed } from '../../storage/model-store';
import { loadPreferences } from '../../storage/preferences';
import type { StorageEstimator } from '../../storage/quota';

/** Progress events of one install are sent at most this often (phase changes always). */
const PUBLISH_INTERVAL_MS = 250;

export interface OpenedModel {
  files: ModelFiles;
  format: StorageFormat;
  name: string;
  /** The catalog entry it was installed from, for its recommended scheduler settings. */
  entry?: CatalogEntry;
}

function catalogItem(e: CatalogEntry): CatalogItem {
  return {
    id: e.id,
    name: e.name,
    repo: e.repo,
    revision: e.revision,
    description: e.description,
    bytes: e.approxBytes ?? null,
    license: e.license,
    steps: e.recommended.steps,
    guidance: e.recommended.guidance,
  };
}

async function storageInfo(db: StoreDB): Promise<StorageInfo> {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  const estimate = (await storage?.estimate?.()) ?? {};
  return {
    used: await storageUsed(db),
    usage: estimate.usage ?? null,
    quota: estimate.quota ?? null,
    persisted: (await storage?.persisted?.()) ?? false,
  };
}

export class ModelService {
  private database?: Promise<StoreDB>;
  private readonly states = new Map<string, InstallState>();
  private readonly running = new Map<string, { controller: AbortController; done: Promise<unknown> }>();
  /** The install records' writes, one after the other in the order the installs changed. */
  private recording: Promise<void> = Promise.resolve();

  constructor(
    private readonly publish: (install: InstallState) => void,
    /** A model was deleted: the engine lets go of it. */
    private readonly onDeleted: (modelId: string) => void,
    private readonly openDb: () => Promise<StoreDB> = () => openStore(),
    /** Where imports from disk check the space they need (tests pass their own; null: no check). */
    private readonly storage?: StorageEstimator | null,
  ) {}

  db(): Promise<StoreDB> {
    if (!this.database) {
      const opened = this.openDb();
      // A failed open is tried again on the next request.
      opened.catch(() => {
        if (this.database === opened) this.database = undefined;
      });
      this.database = opened;
    }
    return this.database;
  }

  async overview(): Promise<ModelsOverview> {
    const db = await this.db();
    const installed: InstalledModel[] = (await listModels(db)).map((m) => ({
      id: m.id,
      name: m.name,
      repo: m.source.kind === 'hub' ? m.source.repo : null,
      revision: m.source.kind === 'hub' ? m.source.revision : null,
      format: m.format,
      status: m.status,
      bytes: m.storedBytes,
      createdAt: m.createdAt,
    }));
    return {
      builtin: { id: BUILTIN_MODEL.id, name: BUILTIN_MODEL.name },
      installed,
      catalog: CATALOG.map(catalogItem),
      installs: [...this.states.values()],
      storage: await storageInfo(db),
    };
  }

  /** Starts installing `repo` (or joins the install of it that runs); returns its state. */
  install(repo: string, revision: string, format: StorageFormat): InstallState {
    const entry = hubModel(repo, revision);
    const current = this.states.get(entry.id);
    if (current && this.running.has(entry.id)) return current;
    const record = { repo: entry.repo, revision: entry.revision, format };
    this.record(entry.id, { ...record, status: 'running', error: null });
    return this.run(
      { modelId: entry.id, repo: entry.repo, revision: entry.revision, format },
      async (signal, onProgress) => {
        const db = await this.db();
        const { hubEndpoint } = await loadPreferences(db);
        await installFromHub(db, entry, {
          format,
          base: hubEndpoint,
          signal,
          onProgress: (p: InstallProgress) =>
            onProgress({ phase: p.stage, file: p.file ?? null, bytes: p.bytes, total: p.total, rate: p.rate, etaSeconds: p.etaSeconds ?? null }),
        });
      },
      (outcome) => this.record(entry.id, outcome === 'done' ? null : { ...record, ...outcome }),
    );
  }

  /**
   * Starts importing a model folder the options page handed over (storage/local-import.ts), as `local/<folder name>`;
   * returns its state. Nothing of it is recorded for a restart: the files are gone with the browser, and a stopped
   * import is listed as the incomplete model it left, for the user to delete or import again (which resumes it).
   */
  importFromDisk(files: readonly LocalFile[], format: StorageFormat): InstallState {
    const modelId = localModelId(files);
    if (this.running.has(modelId)) throw new ModelBusyError(modelId);
    return this.run({ modelId, repo: null, revision: null, format }, async (signal, onProgress) => {
      await importFolder(await this.db(), files, {
        format,
        signal,
        onProgress: (p) => onProgress({ phase: 'import', file: p.file, bytes: p.bytes, total: p.total, rate: 0, etaSeconds: null }),
        ...(this.storage !== undefined ? { storage: this.storage } : {}),
      });
    });
  }

  /**
   * Runs `work` as the install (or import) of `source.modelId`, publishing its state as it changes — progress at
   * most every PUBLISH_INTERVAL_MS, phase and file changes and the end at once — and telling `ended` how it ended.
   */
  private run(
    source: Pick<InstallState, 'modelId' | 'repo' | 'revision' | 'format'>,
    work: (signal: AbortSignal, onProgress: (patch: Partial<InstallState>) => void) => Promise<void>,
    ended: (outcome: 'done' | { status: 'cancelled' | 'failed'; error: InstallState['error'] }) => void = () => undefined,
  ): InstallState {
    const { modelId } = source;
    const controller = new AbortController();
    let state: InstallState = {
      ...source,
      phase: 'prepare',
      file: null,
      bytes: 0,
      total: 0,
      rate: 0,
      etaSeconds: null,
      error: null,
      updatedAt: Date.now(),
    };
    let lastPublished = 0;
    const update = (patch: Partial<InstallState>, force = false) => {
      state = { ...state, ...patch, updatedAt: Date.now() };
      this.states.set(modelId, state);
      const now = performance.now();
      if (force || now - lastPublished >= PUBLISH_INTERVAL_MS) {
        lastPublished = now;
        this.publish(state);
      }
    };
    const onProgress = (patch: Partial<InstallState>) => update(patch, patch.phase !== state.phase || patch.file !== state.file);
    const done = work(controller.signal, onProgress).then(
      () => {
        ended('done');
        update({ phase: 'done', bytes: state.total, rate: 0, etaSeconds: 0 }, true);
      },
      (error: unknown) => {
        if (controller.signal.aborted) {
          ended({ status: 'cancelled', error: null });
          return update({ phase: 'cancelled', rate: 0, etaSeconds: null }, true);
        }
        const { name, message } = error instanceof Error ? error : new Error(String(error));
        ended({ status: 'failed', error: { name, message } });
        update({ phase: 'failed', rate: 0, etaSeconds: null, error: { name, message } }, true);
      },
    );
    this.running.set(modelId, { controller, done });
    void done.finally(() => this.running.delete(modelId));
    update({}, true);
    return state;
  }

  /**
   * What the document does when it starts: no install runs here yet, so one recorded as running was interrupted
   * (the browser closed, the document crashed). Those, and those the network stopped, resume; the others (stopped
   * by the user, a full disk) are shown as they ended, with their error, until the user resumes them.
   */
  async restore(): Promise<void> {
    for (const r of await loadInstallRecords(await this.db())) {
      if (this.running.has(r.modelId)) continue;
      if (resumesOnStart(r)) {
        this.install(r.repo, r.revision, r.format);
        continue;
      }
      const state: InstallState = {
        modelId: r.modelId,
        repo: r.repo,
        revision: r.revision,
        format: r.format,
        phase: r.status === 'cancelled' ? 'cancelled' : 'failed',
        file: null,
        bytes: 0,
        total: 0,
        rate: 0,
        etaSeconds: null,
        error: r.error,
        updatedAt: r.updatedAt,
      };
      this.states.set(r.modelId, state);
      this.publish(state);
    }
  }

  /** Persists how an install stands (null: over, nothing to remember). */
  private record(modelId: string, record: Omit<InstallRecord, 'modelId' | 'updatedAt'> | null): void {
    this.recording = this.recording
      .then(async () => setInstallRecord(await this.db(), modelId, record))
      // A record that cannot be written (the disk is full) leaves the one before: at worst an install resumes once
      // more and stops again with the same message.
      .catch(() => undefined);
  }

  /** Resolves once the install records written so far are stored (tests). */
  recorded(): Promise<void> {
    return this.recording;
  }

  /** Stops an install; what it downloaded stays for a resume. False when none of that model runs. */
  cancel(modelId: string): boolean {
    const run = this.running.get(modelId);
    if (!run) return false;
    run.controller.abort();
    return true;
  }

  /** Deletes a model (stopping its install first); false when nothing of it was stored. */
  async delete(modelId: string): Promise<boolean> {
    const run = this.running.get(modelId);
    if (run) {
      run.controller.abort();
      await run.done;
    }
    const db = await this.db();
    const existed = (await db.get('manifests', modelId)) !== undefined || (await db.count('downloads', IDBKeyRange.bound([modelId], [modelId, []]))) > 0;
    this.onDeleted(modelId);
    await deleteModel(db, modelId);
    this.record(modelId, null);
    this.states.delete(modelId);
    return existed;
  }

  /** The files of a model to run: the built-in one, or a complete stored one (its weights stay in IndexedDB). */
  async open(modelId: string, builtin: ModelFiles): Promise<OpenedModel> {
    if (modelId === BUILTIN_MODEL.id) return { files: builtin, format: 'f32', name: BUILTIN_MODEL.name };
    const stored = await openStoredModel(await this.db(), modelId);
    const { source } = stored.manifest;
    const entry = source.kind === 'hub' ? CATALOG.find((e) => e.repo === source.repo && e.revision === source.revision) : undefined;
    return { files: stored, format: stored.manifest.format, name: stored.manifest.name, ...(entry ? { entry } : {}) };
  }
}
