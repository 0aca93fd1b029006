/**
 * The popup's first screen while no model has been downloaded: the catalog with each model's download size and
 * licence, a download with its progress (it runs in the offscreen document, so the popup may close meanwhile), and
 * the way on with the built-in demo model.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { StorageFormat } from '../../engine/gpu/tensor';
import { InstallView, isInstalling } from '../../lib/install-view';
import type { InstallState, ModelsOverview } from '../../lib/model-messages';
import { formatBytes } from '../../storage/errors';

interface Props {
  overview: ModelsOverview;
  installs: Record<string, InstallState>;
  /** The weight format downloads are stored in (the options page sets it). */
  format: StorageFormat;
  onInstall(repo: string, revision: string): void;
  onCancel(modelId: string): void;
  onContinue(): void;
}

export function FirstRun({ overview, installs, format, onInstall, onCancel, onContinue }: Props) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const busy = overview.catalog.some((m) => isInstalling(installs[m.id]));
  return (
    <section class="first-run" aria-labelledby="first-run-heading">
      <h2 id="first-run-heading" ref={heading} tabIndex={-1}>
        Choose a model to download
      </h2>
      <p class="muted">
        Models are stored in this browser ({format} weights) and run on your GPU; nothing is sent anywhere. The download continues if you close this
        window.
      </p>
      <ul class="catalog">
        {overview.catalog.map((m) => {
          const state = installs[m.id];
          const installing = isInstalling(state);
          return (
            <li key={m.id} aria-labelledby={`model-${m.id}`}>
              <div class="catalog-head">
                <h3 id={`model-${m.id}`}>{m.name}</h3>
                <span class="muted">{m.bytes !== null ? `about ${formatBytes(m.bytes)}` : 'size unknown'}</span>
              </div>
              <p>{m.description}</p>
              <p class="hint">Licence: {m.license}</p>
              {installing ? (
                <button type="button" onClick={() => onCancel(m.id)} aria-label={`Stop downloading ${m.name}`}>
                  Stop
                </button>
              ) : (
                <button type="button" class="primary" disabled={busy} onClick={() => onInstall(m.repo, m.revision)} aria-label={`Download ${m.name}`}>
                  {state?.phase === 'cancelled' || state?.phase === 'failed' ? 'Resume download' : 'Download'}
                </button>
              )}
              {state && <InstallView state={state} label={m.name} />}
            </li>
          );
        })}
      </ul>
      <button type="button" class="link" onClick={onContinue}>
        Continue with the built-in demo model ({overview.builtin.name})
      </button>
    </section>
  );
}
