/**
 * The options page's model store: storage used and whether it is persistent, the installed models (size, format,
 * delete, resume), installs in progress, the catalog, adding any Hugging Face repository by id, and importing a
 * model folder from disk (folder picker or drag and drop; the offscreen document runs the import, so it goes on when
 * this page closes, and a page opened meanwhile shows it).
 */
import { useState } from 'preact/hooks';
import type { StorageFormat } from '../../engine/gpu/tensor';
import { ErrorNotice } from '../../lib/error-notice';
import { startImport } from '../../lib/import-channel';
import { InstallView, isInstalling } from '../../lib/install-view';
import { request } from '../../lib/messaging';
import { WEIGHT_FORMAT_NAMES, type InstallState, type InstalledModel, type ModelsOverview } from '../../lib/model-messages';
import type { ModelsControls } from '../../lib/use-models';
import { asError } from '../../lib/use-request';
import { formatBytes, InvalidModelFilesError } from '../../storage/errors';
import type { LocalFile } from '../../storage/local-import';
import { droppedFiles, pickedFiles } from './local-folder';

export const FORMAT_TEXT: Record<StorageFormat, string> = {
  f32: 'f32 (full precision, largest)',
  f16: 'f16 (half the size, same images to the eye)',
  int8: 'int8 per channel (a quarter)',
  int4: 'int4 in blocks of 32 (an eighth, visible loss)',
};

function StorageSummary({ storage, onPersist }: { storage: ModelsOverview['storage']; onPersist(): void }) {
  return (
    <dl class="storage">
      <dt>Used by models</dt>
      <dd>{formatBytes(storage.used)}</dd>
      <dt>Browser quota</dt>
      <dd>
        {storage.quota !== null ? `${formatBytes(storage.usage ?? 0)} used of ${formatBytes(storage.quota)}` : 'not reported'}
      </dd>
      <dt>Persistent</dt>
      <dd>
        {storage.persisted ? (
          'yes: the browser keeps the models under storage pressure'
        ) : (
          <>
            no: the browser may evict the models when disk space runs low{' '}
            <button type="button" class="link" onClick={onPersist}>
              Ask to keep them
            </button>
          </>
        )}
      </dd>
    </dl>
  );
}

/**
 * How an import from disk ended: its model with format and size once the list read after it has the model complete,
 * or why it stopped.
 */
function ImportOutcome({ state, model }: { state: InstallState; model: InstalledModel | undefined }) {
  if (state.phase === 'done') {
    return model?.status === 'complete' ? <p role="status">{`Imported ${model.name} (${model.format}, ${formatBytes(model.bytes)}).`}</p> : null;
  }
  const name = model?.name ?? state.modelId;
  if (state.phase === 'cancelled') return <p role="status">The import of {name} was stopped. Import the folder again to resume it, or delete what it stored.</p>;
  return state.error && <ErrorNotice error={Object.assign(new Error(state.error.message), { name: state.error.name })} title="The import failed" />;
}

function source(m: InstalledModel): string {
  return m.repo ? `${m.repo}${m.revision && m.revision !== 'main' ? `@${m.revision}` : ''}` : 'imported from disk';
}

export function ModelsSection({ models, defaultFormat }: { models: ModelsControls; defaultFormat: StorageFormat }) {
  const { overview, installs, refresh } = models;
  const [format, setFormat] = useState<StorageFormat>(defaultFormat);
  const [repo, setRepo] = useState('');
  const [revision, setRevision] = useState('main');
  const [error, setError] = useState<{ title: string; error: Error }>();
  // Imports from disk run in the offscreen document: this page follows them through `installs` like any page open
  // meanwhile, and says how one ended if it ended while the page was open.
  const [openedAt] = useState(Date.now);
  const [handing, setHanding] = useState(false);
  const [dragging, setDragging] = useState(false);

  const act = (title: string, work: Promise<unknown>) => {
    setError(undefined);
    work.then(refresh, (e: unknown) => setError({ title, error: asError(e) }));
  };
  const install = (r: string, rev: string, f: StorageFormat) => act('The install could not start', request('install-model', { repo: r, revision: rev, format: f }));
  const imports = Object.values(installs)
    .filter((s) => s.repo === null)
    .sort((a, b) => a.updatedAt - b.updatedAt);
  const importing = imports.filter(isInstalling);
  const importFiles = async (files: LocalFile[]) => {
    if (handing || importing.length > 0) return;
    if (files.length === 0) {
      // A drop of text or a link, or an empty folder: say what the import needs rather than do nothing.
      setError({ title: 'Nothing to import', error: new InvalidModelFilesError('No files came with it: choose or drop the diffusers model folder itself (the one holding model_index.json, unet/, vae/, ...).') });
      return;
    }
    setError(undefined);
    setHanding(true);
    try {
      models.merge([await startImport(files, format)]);
    } catch (e) {
      setError({ title: 'The import could not start', error: asError(e) });
    } finally {
      setHanding(false);
    }
  };

  if (!overview) return models.error ? <ErrorNotice error={models.error} title="The model store could not be read" /> : <p role="status">Reading the model store…</p>;
  const running = Object.values(installs).filter((s) => s.repo !== null && (isInstalling(s) || s.phase === 'failed'));
  // The import that changed last, when it ended while this page was open: its outcome is shown until the next one.
  const last = imports.at(-1);
  const ended = last && !isInstalling(last) && last.updatedAt >= openedAt ? last : undefined;
  // An import's model has its folder's name (`local/<name>`), before its first manifest is listed too.
  const nameOf = (id: string) => overview.installed.find((m) => m.id === id)?.name ?? overview.catalog.find((m) => m.id === id)?.name ?? id.replace(/^local\//, '');

  return (
    <>
      <StorageSummary storage={overview.storage} onPersist={() => void navigator.storage.persist().then(refresh)} />
      {error && <ErrorNotice error={error.error} title={error.title} />}

      {running.length > 0 && (
        <section aria-labelledby="downloads-heading">
          <h3 id="downloads-heading">Downloads</h3>
          <ul class="downloads">
            {running.map((s) => (
              <li key={s.modelId}>
                <div class="row">
                  <strong>{nameOf(s.modelId)}</strong> <span class="muted">({s.format})</span>
                  {isInstalling(s) && (
                    <button type="button" onClick={() => act('Could not stop the download', request('cancel-install', { modelId: s.modelId }))} aria-label={`Stop installing ${nameOf(s.modelId)}`}>
                      Stop
                    </button>
                  )}
                </div>
                <InstallView state={s} label={nameOf(s.modelId)} />
              </li>
            ))}
          </ul>
        </section>
      )}

      <table class="models">
        <caption>Installed models</caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Format</th>
            <th scope="col">Size</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">
              {overview.builtin.name}
              <div class="hint">built into the extension</div>
            </th>
            <td>f32</td>
            <td class="number">in the extension</td>
            <td>ready</td>
            <td />
          </tr>
          {overview.installed.map((m) => {
            const state = installs[m.id];
            return (
              <tr key={m.id}>
                <th scope="row">
                  {m.name}
                  <div class="hint">{source(m)}</div>
                </th>
                <td>{m.format}</td>
                <td class="number">{formatBytes(m.bytes)}</td>
                <td>{m.status === 'complete' ? 'ready' : isInstalling(state) ? (state!.repo === null ? 'importing' : 'installing') : 'incomplete'}</td>
                <td class="actions">
                  {m.status === 'incomplete' && m.repo && !isInstalling(state) && (
                    <button type="button" onClick={() => install(m.repo!, m.revision ?? 'main', m.format)} aria-label={`Resume installing ${m.name}`}>
                      Resume
                    </button>
                  )}
                  <button type="button" onClick={() => act('Could not delete the model', request('delete-model', { modelId: m.id }))} aria-label={`Delete ${m.name}`}>
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <h3>Add a model</h3>
      <label for="install-format">Store weights as</label>
      <select id="install-format" value={format} onChange={(e) => setFormat(e.currentTarget.value as StorageFormat)} aria-describedby="install-format-hint">
        {WEIGHT_FORMAT_NAMES.map((f) => (
          <option key={f} value={f}>
            {FORMAT_TEXT[f]}
          </option>
        ))}
      </select>
      <p id="install-format-hint" class="hint">
        Weights are converted while they are stored; the format applies to the installs and imports started below.
      </p>

      <ul class="catalog">
        {overview.catalog.map((m) => (
          <li key={m.id}>
            <div class="row">
              <strong>{m.name}</strong>
              <span class="muted">{m.bytes !== null ? `about ${formatBytes(m.bytes)} to download` : ''}</span>
              <button
                type="button"
                disabled={isInstalling(installs[m.id]) || overview.installed.some((i) => i.id === m.id && i.status === 'complete')}
                onClick={() => install(m.repo, m.revision, format)}
                aria-label={`Install ${m.name}`}
              >
                Install
              </button>
            </div>
            <p class="hint">
              {m.description} {m.steps === 1 ? '1 step' : `${m.steps} steps`}, guidance {m.guidance}. Licence: {m.license}
            </p>
          </li>
        ))}
      </ul>

      <form
        class="add-repo"
        onSubmit={(e) => {
          e.preventDefault();
          install(repo.trim(), revision.trim() || 'main', format);
        }}
      >
        <div class="fields">
          <div>
            <label for="repo-id">Hugging Face repository</label>
            <input id="repo-id" value={repo} onInput={(e) => setRepo(e.currentTarget.value)} placeholder="owner/name" autoComplete="off" aria-describedby="repo-hint" required />
          </div>
          <div>
            <label for="revision">Revision</label>
            <input id="revision" value={revision} onInput={(e) => setRevision(e.currentTarget.value)} autoComplete="off" />
          </div>
        </div>
        <p id="repo-hint" class="hint">
          Any Stable Diffusion 1.x or 2.x pipeline in the diffusers layout (model_index.json, unet/, vae/, text_encoder/, tokenizer/).
        </p>
        <button type="submit" class="primary">
          Install from Hugging Face
        </button>
      </form>

      <h3>Import from disk</h3>
      <div
        class={`drop${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          if (e.dataTransfer) void droppedFiles(e.dataTransfer).then(importFiles, (x: unknown) => setError({ title: 'The dropped files could not be read', error: asError(x) }));
        }}
      >
        <label for="import-folder">Choose a diffusers model folder, or drop it here</label>
        <input
          id="import-folder"
          type="file"
          // Chromium's folder picker; the DOM typings do not list it, and only `true` sets the attribute.
          {...{ webkitdirectory: true }}
          multiple
          disabled={handing || importing.length > 0}
          onChange={(e) => {
            const list = e.currentTarget.files;
            if (list) void importFiles(pickedFiles(list));
            e.currentTarget.value = '';
          }}
        />
        {handing && <p role="status">Handing the files to the extension…</p>}
        {importing.map((s) => (
          <div key={s.modelId}>
            <div class="row">
              <strong>{nameOf(s.modelId)}</strong> <span class="muted">({s.format})</span>
              <button type="button" onClick={() => act('Could not stop the import', request('cancel-install', { modelId: s.modelId }))} aria-label={`Stop importing ${nameOf(s.modelId)}`}>
                Stop
              </button>
            </div>
            <InstallView state={s} label={nameOf(s.modelId)} />
          </div>
        ))}
        {ended && <ImportOutcome state={ended} model={overview.installed.find((m) => m.id === ended.modelId)} />}
      </div>
    </>
  );
}
