/**
 * The job's side of the popup: an empty frame before the first job, then the live preview with a progress bar, the
 * stage and the time left, then the image with what made it, Download (the PNG carrying its parameters), Copy and
 * Use as starting image; below, the jobs waiting their turn. A job that failed keeps its message above the next
 * job's progress until it is dismissed, with a way to put its settings back in the form.
 */
import { useEffect, useState } from 'preact/hooks';
import { ErrorNotice } from '../../lib/error-notice';
import { LIMITS, isActive, type JobState, type TimingKey } from '../../lib/messages';
import { SAMPLER_LABELS } from '../../lib/samplers';

const STAGE_TEXT: Record<JobState['progress']['stage'], string> = {
  queued: 'Waiting for the job before it',
  load: 'Loading the model',
  text: 'Reading the prompt',
  encode: 'Encoding the starting image',
  denoise: 'Denoising',
  decode: 'Decoding the image',
};

function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return whole < 90 ? `${whole} s` : `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** Re-renders every second while `on`, so the time left counts down between the engine's updates. */
function useNow(on: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!on) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [on]);
  return now;
}

function Progress({ job }: { job: JobState }) {
  const now = useNow(true);
  const { stage, step, steps, done, total } = job.progress;
  const what = job.status === 'cancelling' ? 'Cancelling after this step' : stage === 'denoise' ? `${STAGE_TEXT.denoise}: step ${step} of ${steps}` : STAGE_TEXT[stage];
  const left = job.etaMs === null ? undefined : Math.max(0, job.etaMs - (now - job.updatedAt));
  return (
    <div class="progress">
      <progress value={done} max={total} aria-label="Generation progress" />
      <p>{what}…</p>
      {job.status !== 'cancelling' && <p class="eta">{left === undefined ? 'Estimating the time left' : left < 1000 ? 'Almost done' : `About ${seconds(left)} left`}</p>}
    </div>
  );
}

const TIMING_ORDER: TimingKey[] = ['load', 'text', 'encode', 'denoise', 'decode'];

type StartFrom = (galleryId: number, width: number, height: number) => void;

function Result({ job, onReuseSeed, onStartFrom }: { job: JobState; onReuseSeed(seed: number): void; onStartFrom: StartFrom }) {
  const result = job.result!;
  const [copy, setCopy] = useState<{ ok: boolean; text: string } | null>(null);
  const copyImage = async () => {
    try {
      const blob = await (await fetch(result.image)).blob();
      await navigator.clipboard.write([new ClipboardItem({ [blob.type]: blob })]);
      setCopy({ ok: true, text: 'Copied to the clipboard.' });
    } catch (error) {
      setCopy({ ok: false, text: `Could not copy the image: ${(error as Error).message}` });
    }
  };
  const stages = TIMING_ORDER.filter((k) => result.timings[k] !== undefined).map((k) => `${k} ${seconds(result.timings[k]!)}`);
  const { settings } = job;
  return (
    <>
      <dl class="result-facts">
        <dt>Seed</dt>
        <dd>
          {job.seed}
          {settings.seed === null && ' (random)'}
        </dd>
        <dt>Size</dt>
        <dd>
          {result.width} × {result.height}
        </dd>
        <dt>Sampler</dt>
        <dd>
          {SAMPLER_LABELS[settings.scheduler]}, {settings.steps} steps, guidance {settings.guidance}
        </dd>
        {result.timings.total !== undefined && (
          <>
            <dt>Time</dt>
            <dd title={stages.join(', ')}>{seconds(result.timings.total)}</dd>
          </>
        )}
      </dl>
      {(result.truncated.prompt > 0 || result.truncated.negativePrompt > 0) && (
        <p class="notice warning">
          The model reads 77 tokens of a prompt: {result.truncated.prompt > 0 && `${result.truncated.prompt} tokens of the prompt`}
          {result.truncated.prompt > 0 && result.truncated.negativePrompt > 0 && ' and '}
          {result.truncated.negativePrompt > 0 && `${result.truncated.negativePrompt} tokens of the negative prompt`} were left out.
          {result.cutText.prompt && <span class="cut-text">Not read from the prompt: “{result.cutText.prompt}”</span>}
          {result.cutText.negativePrompt && <span class="cut-text">Not read from the negative prompt: “{result.cutText.negativePrompt}”</span>}
        </p>
      )}
      <div class="actions">
        <a class="button" href={result.image} download={`local-diffusion-${job.seed}.png`}>
          Download
        </a>
        <button type="button" onClick={() => void copyImage()}>
          Copy image
        </button>
        {settings.seed === null && (
          <button type="button" onClick={() => onReuseSeed(job.seed)}>
            Reuse seed
          </button>
        )}
        {'id' in result.gallery && (
          <button type="button" onClick={() => onStartFrom((result.gallery as { id: number }).id, result.width, result.height)}>
            Use as starting image
          </button>
        )}
      </div>
      {'error' in result.gallery && <p class="notice warning">{result.gallery.error}</p>}
      {copy && (
        <p class={copy.ok ? 'ok' : 'bad'} role="status">
          {copy.text}
        </p>
      )}
    </>
  );
}

function Waiting({ jobs, onCancel }: { jobs: JobState[]; onCancel(jobId: string): void }) {
  return (
    <div class="waiting">
      <h3>Waiting ({jobs.length})</h3>
      <ol>
        {jobs.map((j) => (
          <li key={j.jobId}>
            <span class="prompt-line" title={j.settings.prompt}>
              {j.source === 'menu' ? 'From the page: ' : ''}
              {j.settings.prompt}
            </span>
            <button type="button" class="link" onClick={() => onCancel(j.jobId)} aria-label={`Cancel the waiting job “${j.settings.prompt.slice(0, 60)}”`}>
              Cancel
            </button>
          </li>
        ))}
      </ol>
    </div>
  );
}

/** Why a job failed (its error says what to do), which job it was, and what the user can do about it here. */
function Failure({ job, onDismiss, onReuseSettings }: { job: JobState; onDismiss(jobId: string): void; onReuseSettings(job: JobState): void }) {
  return (
    <div class="failure">
      <ErrorNotice error={Object.assign(new Error(job.error!.message), { name: job.error!.name })} title="The generation failed" />
      <p class="prompt-line muted" title={job.settings.prompt}>
        Not made: {job.source === 'menu' ? 'from the page, ' : ''}“{job.settings.prompt}”
      </p>
      <div class="actions">
        <button type="button" onClick={() => onReuseSettings(job)}>
          Put its settings in the form
        </button>
        <button type="button" onClick={() => onDismiss(job.jobId)}>
          Dismiss
        </button>
      </div>
    </div>
  );
}

interface Props {
  job: JobState | null;
  /** Jobs queued after it. */
  waiting: JobState[];
  /** A job that failed before `job`, kept on screen until dismissed. */
  failure: JobState | null;
  onDismiss(jobId: string): void;
  onReuseSettings(job: JobState): void;
  onCancel(jobId: string): void;
  onReuseSeed(seed: number): void;
  onStartFrom: StartFrom;
}

export function JobPanel({ job, waiting, failure, onDismiss, onReuseSettings, onCancel, onReuseSeed, onStartFrom }: Props) {
  const active = isActive(job);
  const image = job?.status === 'done' ? job.result!.image : active ? job!.preview : null;
  return (
    <section class="job" aria-labelledby="job-heading">
      <h2 id="job-heading" class="visually-hidden">
        Image
      </h2>
      {failure && <Failure key={failure.jobId} job={failure} onDismiss={onDismiss} onReuseSettings={onReuseSettings} />}
      <div class="frame">
        {image ? (
          <img
            src={image}
            alt={active ? 'Preview of the image being generated' : `Generated image: ${job!.settings.prompt}`}
          />
        ) : (
          <p class="placeholder">{active ? 'The preview appears after the first step.' : 'Your image appears here.'}</p>
        )}
      </div>
      {active && <Progress job={job!} />}
      {job && job.cutChars > 0 && (
        <p class="notice warning">
          The selected text is longer than a prompt can be: its first {LIMITS.promptChars} characters are the prompt, and the last {job.cutChars} were left out.
        </p>
      )}
      {job?.status === 'done' && <Result key={job.jobId} job={job} onReuseSeed={onReuseSeed} onStartFrom={onStartFrom} />}
      {job?.status === 'cancelled' && <p class="muted">The generation was cancelled.</p>}
      {job?.status === 'failed' && <Failure key={job.jobId} job={job} onDismiss={onDismiss} onReuseSettings={onReuseSettings} />}
      {waiting.length > 0 && <Waiting jobs={waiting} onCancel={onCancel} />}
    </section>
  );
}
