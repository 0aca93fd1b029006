/**
 * The options page: the model store (installed models, installs, catalog, add by id, import from disk, storage),
 * the Hugging Face endpoint, the popup's default settings, and the tuning panel with the engine's GPU adapter and
 * what it allows.
 */
import { browser } from 'wxt/browser';
import { featureList } from '../../lib/adapter';
import { ErrorNotice } from '../../lib/error-notice';
import type { EngineStatus } from '../../lib/messages';
import { useModels } from '../../lib/use-models';
import { usePreferences } from '../../lib/use-preferences';
import { useRequest } from '../../lib/use-request';
import { ModelsSection } from './models-section';
import { DefaultsForm, EndpointForm, TuningForm } from './preferences-section';
import { TunerSection } from './tuner-section';

const MIB = 1024 * 1024;

/** Byte limits read better in MiB once they are large. */
function formatLimit(name: string, value: number): string {
  const bytes = /Size$/.test(name) && value >= MIB;
  return bytes ? `${value.toLocaleString('en')} (${(value / MIB).toLocaleString('en', { maximumFractionDigits: 1 })} MiB)` : value.toLocaleString('en');
}

function Adapter({ status }: { status: EngineStatus }) {
  const { adapter } = status;
  return (
    <>
      <dl>
        <dt>Name</dt>
        <dd>{status.adapterName}</dd>
        <dt>Vendor</dt>
        <dd>{adapter.vendor || 'not reported'}</dd>
        <dt>Architecture</dt>
        <dd>{adapter.architecture || 'not reported'}</dd>
        <dt>Description</dt>
        <dd>{adapter.description || adapter.device || 'not reported'}</dd>
        <dt>Kernel self-check</dt>
        <dd class={status.selfCheck.passed ? 'ok' : 'bad'}>{status.selfCheck.passed ? '✓ passed' : '✗ failed'}</dd>
      </dl>
      <table>
        <caption>Optional features</caption>
        <thead>
          <tr>
            <th scope="col">Feature</th>
            <th scope="col">Available</th>
          </tr>
        </thead>
        <tbody>
          {featureList(adapter.features).map((f) => (
            <tr key={f.name}>
              <th scope="row">{f.name}</th>
              <td class={f.available ? 'ok' : undefined}>{f.available ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table>
        <caption>Device limits the engine runs with</caption>
        <thead>
          <tr>
            <th scope="col">Limit</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(adapter.limits).map(([name, value]) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td class="number">{formatLimit(name, value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function App() {
  const engine = useRequest('engine-status');
  const models = useModels();
  const { preferences, error, save } = usePreferences();
  return (
    <main>
      <h1>{browser.runtime.getManifest().name} — Options</h1>
      {error && <ErrorNotice error={error} title="The settings could not be read" />}
      <section aria-labelledby="models-heading">
        <h2 id="models-heading">Models</h2>
        {preferences && <ModelsSection models={models} defaultFormat={preferences.weightFormat} />}
        {preferences && <EndpointForm preferences={preferences} save={save} />}
      </section>
      <section aria-labelledby="defaults-heading">
        <h2 id="defaults-heading">Default generation settings</h2>
        {preferences && <DefaultsForm preferences={preferences} save={save} />}
      </section>
      <section aria-labelledby="tuning-heading">
        <h2 id="tuning-heading">Tuning</h2>
        {preferences && <TuningForm preferences={preferences} save={save} engine={engine.state === 'ready' ? engine.value : undefined} />}
        <TunerSection />
      </section>
      <section aria-labelledby="adapter-heading" aria-busy={engine.state === 'loading'}>
        <h2 id="adapter-heading">GPU adapter</h2>
        {engine.state === 'loading' && <p role="status">Starting the GPU engine…</p>}
        {engine.state === 'failed' && <ErrorNotice error={engine.error} />}
        {engine.state === 'ready' && <Adapter status={engine.value} />}
      </section>
    </main>
  );
}
