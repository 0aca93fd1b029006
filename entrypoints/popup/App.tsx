/** The toolbar popup: the product and whether its engine runs on this machine. */
import { browser } from 'wxt/browser';
import { featureList } from '../../lib/adapter';
import { ErrorNotice } from '../../lib/error-notice';
import type { EngineStatus } from '../../lib/messages';
import { useEngineStatus } from '../../lib/use-engine-status';

function Status({ status }: { status: EngineStatus }) {
  const available = featureList(status.adapter.features).filter((f) => f.available);
  const { passed, relativeError } = status.selfCheck;
  return (
    <dl>
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

export function App() {
  const engine = useEngineStatus();
  return (
    <main>
      <h1>{browser.runtime.getManifest().name}</h1>
      <section aria-labelledby="engine-heading" aria-busy={engine.state === 'loading'}>
        <h2 id="engine-heading">GPU engine</h2>
        {engine.state === 'loading' && <p role="status">Starting the GPU engine…</p>}
        {engine.state === 'failed' && <ErrorNotice error={engine.error} />}
        {engine.state === 'ready' && <Status status={engine.status} />}
      </section>
      <button type="button" onClick={() => void browser.runtime.openOptionsPage()}>
        Adapter details
      </button>
    </main>
  );
}
