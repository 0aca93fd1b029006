/** An install's (or an import's from disk) progress as the popup's first-run screen and the options page show it. */
import { formatBytes } from '../storage/errors';
import { ErrorNotice } from './error-notice';
import type { InstallState } from './model-messages';

const PHASE_TEXT: Record<InstallState['phase'], string> = {
  prepare: 'Reading the model’s configuration',
  download: 'Downloading',
  import: 'Storing the weights',
  done: 'Installed',
  failed: 'The install failed',
  cancelled: 'Stopped; start it again to resume',
};
/** An import from disk has no download; what differs in its words. */
const IMPORT_TEXT: Partial<Record<InstallState['phase'], string>> = {
  done: 'Imported',
  failed: 'The import failed',
  cancelled: 'Stopped; import the folder again to resume',
};

export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function isInstalling(state: InstallState | undefined): boolean {
  return state !== undefined && (state.phase === 'prepare' || state.phase === 'download' || state.phase === 'import');
}

/** Progress bar and figures of one install, labelled by the model's name; the error when it failed. */
export function InstallView({ state, label }: { state: InstallState; label: string }) {
  const { phase, bytes, total, rate, etaSeconds } = state;
  const fromDisk = state.repo === null;
  const figures =
    phase === 'download' && total > 0
      ? `${formatBytes(bytes)} of ${formatBytes(total)}` + (rate > 0 ? ` · ${formatBytes(rate)}/s` : '') + (etaSeconds !== null && rate > 0 ? ` · ${duration(etaSeconds)} left` : '')
      : phase === 'import' && state.file
        ? // An install's bytes count its downloads, all arrived by now; an import's count the checkpoints read.
          state.file + (fromDisk && total > 0 ? ` · ${formatBytes(bytes)} of ${formatBytes(total)}` : '')
        : '';
  const text = (fromDisk ? IMPORT_TEXT[phase] : undefined) ?? PHASE_TEXT[phase];
  return (
    <div class="install">
      {isInstalling(state) && <progress aria-label={`${fromDisk ? 'Import' : 'Install'} of ${label}`} max={total || undefined} value={total ? bytes : undefined} />}
      <p class="install-status" role="status">
        {text}
        {figures && <span class="muted"> · {figures}</span>}
      </p>
      {state.error && <ErrorNotice error={Object.assign(new Error(state.error.message), { name: state.error.name })} title={fromDisk ? 'The import failed' : 'The install failed'} />}
    </div>
  );
}
