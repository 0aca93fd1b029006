/**
 * The toolbar popup: settings on the left, the job (preview, progress, result) on the right, and a line on the GPU
 * engine at the bottom. The job lives in the offscreen document, so closing the popup never stops it; reopened, the
 * popup shows it again with the settings it was started with.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { featureList } from '../../lib/adapter';
import { ErrorNotice } from '../../lib/error-notice';
import { isActive, type EngineStatus, type JobState } from '../../lib/messages';
import { reuseSettings, type GalleryItem } from '../../lib/gallery';
import { useJob } from '../../lib/use-job';
import { useRequest } from '../../lib/use-request';
import { Gallery } from './gallery';
import { JobPanel } from './job-panel';
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
  const model = useRequest('model-info');
  const { job, waiting, requestError, starting, generate, cancel } = useJob();
  const [values, setValues] = useState<FormValues>(INITIAL_VALUES);
  const [problem, setProblem] = useState<string>();
  const modelInfo = model.state === 'ready' ? model.value : undefined;

  // The settings of the job found on opening, so a reopened popup shows what is being made; else the model's defaults.
  const restored = useRef(false);
  useEffect(() => {
    if (restored.current || job === undefined || !modelInfo) return;
    restored.current = true;
    setValues((typed) =>
      job && typed.prompt === '' ? valuesOf(job.settings) : { ...typed, width: String(modelInfo.width), height: String(modelInfo.height), scheduler: modelInfo.defaultScheduler },
    );
  }, [job, modelInfo]);

  const busy = isActive(job ?? null);
  const engineFailed = engine.state === 'failed' ? engine.error : model.state === 'failed' ? model.error : undefined;
  // A job running does not stop Generate: the new one waits in the queue.
  const canGenerate = !engineFailed && modelInfo !== undefined && restored.current;
  const onGenerate = () => {
    if (starting) return;
    setRestoredFrom(undefined);
    const checked = settingsOf(values);
    if ('problem' in checked) {
      setProblem(checked.problem);
      return;
    }
    setProblem(undefined);
    generate(checked.settings);
  };
  const onChange = (next: FormValues) => {
    setValues(next);
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

  return (
    <main>
      <header>
        <h1>{browser.runtime.getManifest().name}</h1>
        <p class="muted model">{modelInfo ? `Model: ${modelInfo.name}` : model.state === 'loading' ? 'Opening the model…' : ''}</p>
      </header>
      {engineFailed && <ErrorNotice error={engineFailed} />}
      {requestError && <ErrorNotice error={requestError} title="The request failed" />}
      {/* Without an engine nothing here could run: the notice above says what to do instead. */}
      {!engineFailed && (
        <div class="columns">
          <SettingsForm
            values={values}
            onChange={onChange}
            model={modelInfo}
            busy={busy}
            canGenerate={canGenerate}
            problem={problem}
            onGenerate={onGenerate}
            onCancel={() => cancel()}
            cancelling={job?.status === 'cancelling'}
          />
          <JobPanel
            job={job ?? null}
            waiting={waiting}
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
