/** The options page: for now, what the engine's GPU adapter is and what it allows. */
import { browser } from 'wxt/browser';
import { featureList } from '../../lib/adapter';
import { ErrorNotice } from '../../lib/error-notice';
import type { EngineStatus } from '../../lib/messages';
import { useRequest } from '../../lib/use-request';

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
  return (
    <main>
      <h1>{browser.runtime.getManifest().name} — Options</h1>
      <section aria-labelledby="adapter-heading" aria-busy={engine.state === 'loading'}>
        <h2 id="adapter-heading">GPU adapter</h2>
        {engine.state === 'loading' && <p role="status">Starting the GPU engine…</p>}
        {engine.state === 'failed' && <ErrorNotice error={engine.error} />}
        {engine.state === 'ready' && <Adapter status={engine.value} />}
      </section>
    </main>
  );
}
