/**
 * The toolbar popup: settings on the left, the job (preview, progress, result) on the right, and a line on the GPU
 * engine at the bottom. The job lives in the offscreen document, so closing the popup never stops it; reopened, the
 * popup shows it again with the settings it was started with.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { featureList } from '../../lib/adapter';
import { BUILTIN_MODEL } from '../../lib/builtin-model';
import { ErrorNotice } from '../../lib/error-notice';
import { isActive, type EngineStatus, type JobState } from '../../lib/messages';
import { reuseSettings, type GalleryItem } from '../../lib/gallery';
import { useJob } from '../../lib/use-job';
import { request } from '../../lib/messaging';
import { useModelInfo, useModels } from '../../lib/use-models';
import { usePreferences } from '../../lib/use-preferences';
import { DEFAULT_PREFERENCES } from '../../storage/preferences';
import { asError, useRequest } from '../../lib/use-request';
import { FirstRun } from './first-run';
import { Gallery } from './gallery';
import { JobPanel } from './job-panel';
import { chooseModel, modelChoices, needsFirstRun } from '../../lib/model-choice';
import { seedSeries } from '../../lib/batch';
import { INITIAL_VALUES, SettingsForm, settingsOf, valuesOf, type FormValues } from './settings-form';

function EngineSummary({ status }: { status: EngineStatus }) {
  const available = featureList(status.adapter.features).filter((f) => f.available);
  const { passed, relativeError } = status.selfCheck;
  return (
    <dl class="engine">
      <dt>Adapter</dt>
      <dd>{status.adapterName}</dd>
      <dt>Features</dt>
      <dd>{available.length ? available.map((f) => f.name).join(', ') : 'none of the optional ones'}</dd>
      <dt>Kernel self-check</dt>
      <dd class={passed ? 'ok' : 'bad'}>
        {passed ? '✓ passed' : `✗ failed (relative error ${relativeError ?? 'not finite'}): the GPU computes wrong results`}
      </dd>
    </dl>
  );
}

/** What a screen reader hears when the job changes state (the progress bar carries the steps). */
function announcement(job: JobState | null | undefined): string {
  switch (job?.status) {
    case 'queued':
    case 'running':
      return 'Generating the image.';
    case 'cancelling':
      return 'Cancelling.';
    case 'done':
      return 'The image is ready.';
    case 'cancelled':
      return 'The generation was cancelled.';
    default:
      return '';
  }
}

/** Where the strength slider starts: the image's layout stays, its details change. */
const DEFAULT_STRENGTH = 0.6;

export function App() {
  const engine = useRequest('engine-status');
  const { job, waiting, failure, requestError, starting, generate, cancel, dismiss } = useJob();
  const models = useModels();
  const { preferences, save } = usePreferences();
  const [values, setValues] = useState<FormValues>(INITIAL_VALUES);
  const [problem, setProblem] = useState<string>();
  const [installError, setInstallError] = useState<Error>();
  const model = useModelInfo(values.model || undefined);
  const modelInfo = model?.state === 'ready' ? model.value : undefined;
  const firstRun = needsFirstRun(models.overview, preferences, job);

  // The settings of the job found on opening, so a reopened popup shows what is being made; else the preferred
  // model with the default settings of the options page.
  const restored = useRef(false);
  useEffect(() => {
    // A store that cannot be read leaves the built-in model, which needs none.
    if (restored.current || job === undefined || (!models.overview && !models.error) || !preferences || firstRun) return;
    restored.current = true;
    const { defaults } = preferences;
    setValues((typed) =>
      job && typed.prompt === ''
        ? valuesOf(job.settings)
        : { ...typed, model: models.overview ? chooseModel(models.overview, preferences) : BUILTIN_MODEL.id, steps: String(defaults.steps), guidance: String(defaults.guidance) },
    );
  }, [job, models.overview, models.error, preferences, firstRun]);
  // Size and scheduler follow the model: its native size and own scheduler unless the options page set defaults.
  useEffect(() => {
    if (!modelInfo || !preferences) return;
    const { size, scheduler } = preferences.defaults;
    const fit = (typed: string) => (typed && modelInfo.sizes.includes(Number(typed)) ? typed : String(size !== null && modelInfo.sizes.includes(size) ? size : modelInfo.width));
    setValues((v) => (v.model !== modelInfo.id ? v : { ...v, width: fit(v.width), height: fit(v.height), scheduler: v.scheduler || (scheduler ?? modelInfo.defaultScheduler) }));
  }, [modelInfo, preferences]);

  const busy = isActive(job ?? null);
  const engineFailed = engine.state === 'failed' ? engine.error : undefined;
  // A model that does not open (deleted since the last job, damaged) leaves the form up to choose another.
  const modelFailed = model?.state === 'failed' ? model.error : undefined;
  // A job running does not stop Generate: the new one waits in the queue.
  const canGenerate = !engineFailed && modelInfo !== undefined && modelInfo.id === values.model && restored.current;
  const onGenerate = () => {
    if (starting) return;
    setRestoredFrom(undefined);
    const checked = settingsOf(values);
    if ('problem' in checked) {
      setProblem(checked.problem);
      return;
    }
    setProblem(undefined);
    // Prompt weighting is a preference (options page), not a field of the form: each job records the one it ran with.
    const settings = { ...checked.settings, emphasis: preferences?.defaults.emphasis ?? DEFAULT_PREFERENCES.defaults.emphasis };
    generate(seedSeries(settings.seed, Number(values.count)).map((seed) => ({ ...settings, seed })));
  };
  const onChange = (next: FormValues) => {
    if (next.model !== values.model) {
      // Another model: its own sizes and scheduler; remembered for the next time the popup opens.
      setValues({ ...next, width: '', height: '', scheduler: '' });
      void save({ model: next.model });
    } else setValues(next);
    setProblem(undefined);
  };
  const [restoredFrom, setRestoredFrom] = useState<string>();
  const onReuse = (item: GalleryItem) => {
    onChange(valuesOf(reuseSettings(item.params)));
    setRestoredFrom('The settings of the image are in the form.');
  };
  /** img2img from a stored image, at its size. */
  const onStartFrom = (galleryId: number, width: number, height: number) => {
    const fits = (s: number) => modelInfo?.sizes.includes(s) ?? false;
    onChange({
      ...values,
      startImage: { galleryId, strength: values.startImage?.strength ?? String(DEFAULT_STRENGTH) },
      ...(fits(width) && fits(height) ? { width: String(width), height: String(height) } : {}),
    });
    setRestoredFrom('The image is the starting image: set the strength and generate.');
  };
  const openId = Number(new URLSearchParams(location.search).get('item')) || undefined;
  const install = (repo: string, revision: string) => {
    setInstallError(undefined);
    request('install-model', { repo, revision, format: preferences!.weightFormat }).catch((e: unknown) => setInstallError(asError(e)));
  };

  return (
    <main>
      <header>
        <h1>{browser.runtime.getManifest().name}</h1>
        <p class="muted model">{modelInfo ? `Model: ${modelInfo.name}` : model?.state === 'loading' ? 'Opening the model…' : ''}</p>
      </header>
      {engineFailed && <ErrorNotice error={engineFailed} />}
      {modelFailed && <ErrorNotice error={modelFailed} title="The model did not open" />}
      {requestError && <ErrorNotice error={requestError} title="The request failed" />}
      {/* Without an engine nothing here could run: the notice above says what to do instead. */}
      {models.error && <ErrorNotice error={models.error} title="The model store could not be read" />}
      {installError && <ErrorNotice error={installError} title="The download could not start" />}
      {firstRun && (
        <FirstRun
          overview={models.overview!}
          installs={models.installs}
          format={preferences!.weightFormat}
          onInstall={install}
          onCancel={(modelId) => void request('cancel-install', { modelId })}
          onContinue={() => void save({ firstRunDone: true })}
        />
      )}
      {/* Until the store is read it is unknown whether the first-run screen or the form comes: neither flickers. */}
      {!engineFailed && !firstRun && (models.overview || models.error) && preferences && (
        <div class="columns">
          <SettingsForm
            values={values}
            onChange={onChange}
            model={modelInfo}
            busy={busy}
            canGenerate={canGenerate}
            problem={problem}
            onGenerate={onGenerate}
            emphasis={preferences.defaults.emphasis}
            onCancel={() => cancel()}
            cancelling={job?.status === 'cancelling'}
            models={models.overview ? modelChoices(models.overview) : [{ id: BUILTIN_MODEL.id, name: BUILTIN_MODEL.name }]}
          />
          <JobPanel
            job={job ?? null}
            waiting={waiting}
            failure={failure}
            onDismiss={dismiss}
            onReuseSettings={(failed) => {
              onChange(valuesOf(failed.settings));
              setRestoredFrom('The settings of the job that failed are in the form.');
            }}
            onCancel={cancel}
            onReuseSeed={(seed) => onChange({ ...values, seed: String(seed) })}
            onStartFrom={onStartFrom}
          />
        </div>
      )}
      {restoredFrom && (
        <p class="ok restored" role="status">
          {restoredFrom}
        </p>
      )}
      <p class="visually-hidden" role="status">
        {announcement(job)}
      </p>
      <Gallery openId={openId} onReuse={onReuse} onStartFrom={(item) => onStartFrom(item.id, item.params.width, item.params.height)} />
      <section class="engine-section" aria-labelledby="engine-heading" aria-busy={engine.state === 'loading'}>
        <h2 id="engine-heading" class="visually-hidden">
          GPU engine
        </h2>
        {engine.state === 'loading' && <p role="status">Starting the GPU engine…</p>}
        {engine.state === 'ready' && <EngineSummary status={engine.value} />}
        <button type="button" class="link" onClick={() => void browser.runtime.openOptionsPage()}>
          Adapter details
        </button>
      </section>
    </main>
  );
}
