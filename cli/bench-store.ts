/**
 * Model store throughput in the built extension (`npm run build` first), in Debian's Chromium: the fixture model
 * served by the local hub-like server (tests/helpers/hub-server.ts) is installed through the offscreen document as
 * the options page asks for it, then generated with once. Figures, in MB/s (decimal):
 *
 * - download: weight bytes over the time the install spent in its download phases (fetch, sha256, writes of the
 *   raw parts to IndexedDB);
 * - store: stored bytes over the time spent in the import phases (parse, convert to the weight format, hash and
 *   write the chunks);
 * - IndexedDB read: stored bytes over reading every chunk back in a page;
 * - engine load: stored bytes over the generation's `load` time (chunks read and verified, layouts made, GPU
 *   buffers written).
 *
 * Phase times come from the `install-update` events the page receives (every phase change is sent at once). The
 * server is on this machine, so download figures measure the extension's side, not a network.
 * `--weights <format>` picks the stored weight format (default f32), `--repeat N` the installs (medians).
 */
import type { Page } from 'playwright-core';
import type { GpuContext } from '../engine/gpu/context';
import type { SuiteOptions } from './bench';
import type { EngineStatus, GenerationSettings, JobState } from '../lib/messages';
import type { InstallState, ModelsOverview } from '../lib/model-messages';
import { startHubServer } from '../tests/helpers/hub-server';
import { launchWithExtension, WEBGPU_ARGS } from './chromium';

const REPO = 'bench/tiny-sd1';
const MODEL = '../shared/fixtures/tiny-sd1/model';

function send<T>(page: Page, message: Record<string, unknown>): Promise<T> {
  return page.evaluate(async (m) => {
    const { runtime } = (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<{ type: string; value: unknown; message?: string }> } } }).chrome;
    const answer = await runtime.sendMessage({ target: 'background', id: crypto.randomUUID(), ...m });
    if (answer.type !== 'result') throw new Error(answer.message);
    return answer.value;
  }, message) as Promise<T>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbps = (bytes: number, ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(1);

/** Installs the model once; the phase times from the events, received with the page's clock. */
async function installOnce(page: Page, format: string): Promise<{ download: number; store: number; bytes: number; stored: number }> {
  await page.evaluate(() => {
    const w = globalThis as unknown as { events: { at: number; install: unknown }[]; chrome: { runtime: { onMessage: { addListener(f: (m: { type?: string; install?: unknown }) => void): void } } } };
    if (!w.events) {
      w.chrome.runtime.onMessage.addListener((m) => {
        if (m.type === 'install-update') w.events.push({ at: performance.now(), install: m.install });
      });
    }
    w.events = [];
  });
  await send(page, { type: 'install-model', repo: REPO, revision: 'main', format });
  const events = await page.waitForFunction(
    () => {
      const { events } = globalThis as unknown as { events: { at: number; install: InstallState }[] };
      const last = events.at(-1)?.install;
      return last && (last.phase === 'done' || last.phase === 'failed') ? events : undefined;
    },
    undefined,
    { timeout: 600_000, polling: 100 },
  );
  const list = (await events.jsonValue()) as { at: number; install: InstallState }[];
  const last = list.at(-1)!.install;
  if (last.phase === 'failed') throw new Error(`The install failed: ${last.error?.message}`);
  const time = { download: 0, import: 0 } as Record<string, number>;
  for (let i = 0; i + 1 < list.length; i++) {
    const phase = list[i]!.install.phase;
    if (phase in time) time[phase]! += list[i + 1]!.at - list[i]!.at;
  }
  const overview = await send<ModelsOverview>(page, { type: 'list-models' });
  const stored = overview.installed.find((m) => m.id === REPO)!.bytes;
  return { download: time.download!, store: time.import!, bytes: last.total, stored };
}

/** Reads every stored chunk of the model back from IndexedDB in the page; milliseconds. */
function readChunks(page: Page): Promise<number> {
  return page.evaluate(async (id) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('sd-webgpu');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const started = performance.now();
    const store = db.transaction('chunks').objectStore('chunks');
    let cursor = await new Promise<IDBCursorWithValue | null>((resolve) => {
      const request = store.openCursor(IDBKeyRange.bound([id], [id, []]));
      request.onsuccess = () => resolve(request.result);
    });
    let bytes = 0;
    while (cursor) {
      bytes += (cursor.value as { bytes: ArrayBuffer }).bytes.byteLength;
      const next = new Promise<IDBCursorWithValue | null>((resolve) => {
        const request = cursor!.request as IDBRequest<IDBCursorWithValue | null>;
        request.onsuccess = () => resolve(request.result);
      });
      cursor.continue();
      cursor = await next;
    }
    const ms = performance.now() - started;
    db.close();
    if (bytes === 0) throw new Error('no chunks stored');
    return ms;
  }, REPO);
}

export async function runStoreBench(_ctx: GpuContext, options: SuiteOptions): Promise<{ adapter: string }> {
  const format = options.weights ?? 'f32';
  const hub = await startHubServer({ [REPO]: MODEL });
  const browser = await launchWithExtension(WEBGPU_ARGS);
  try {
    const page = await browser.open('options.html');
    await page.getByLabel('Hugging Face endpoint').fill(hub.base);
    await page.getByRole('button', { name: 'Save endpoint' }).click();
    await page.getByText(`Downloads now come from ${hub.base}.`).waitFor();
    const engine = await send<EngineStatus>(page, { type: 'engine-status' });
    console.log(`\n## Model store in Chromium\n\nThe fixture model (tiny-sd1) from a local hub-like server, stored as ${format}; median of ${options.repeat} installs.\n`);

    const runs = [];
    for (let i = 0; i < options.repeat; i++) {
      if (i > 0) await send(page, { type: 'delete-model', modelId: REPO });
      runs.push(await installOnce(page, format));
    }
    const { bytes, stored } = runs[0]!;
    const download = median(runs.map((r) => r.download));
    const store = median(runs.map((r) => r.store));
    const reads = [];
    for (let i = 0; i < 3; i++) reads.push(await readChunks(page));
    const read = median(reads);
    const row = (what: string, b: number, ms: number) => console.log(`| ${what} | ${(b / 1e6).toFixed(1)} | ${ms.toFixed(0)} | ${mbps(b, ms)} |`);
    console.log('| step | MB | ms | MB/s |\n| --- | ---: | ---: | ---: |');
    row('download (fetch, sha256, parts into IndexedDB)', bytes, download);
    row(`store (parse, convert to ${format}, hash, chunks into IndexedDB)`, stored, store);
    row('IndexedDB read of every chunk', stored, read);

    const settings: GenerationSettings = { prompt: 'bench', negativePrompt: '', steps: 1, guidance: 1, width: 64, height: 64, seed: 1, scheduler: 'euler', model: REPO };
    const job = await send<JobState>(page, { type: 'generate', settings });
    let finished: JobState | undefined;
    for (const started = Date.now(); Date.now() - started < 600_000; await new Promise((r) => setTimeout(r, 500))) {
      finished = (await send<JobState[]>(page, { type: 'jobs' })).find((j) => j.jobId === job.jobId);
      if (finished?.status === 'done' || finished?.status === 'failed') break;
    }
    if (!finished) throw new Error('The generation did not finish in 10 minutes.');
    if (finished.status !== 'done') throw new Error(`The generation failed: ${finished.error?.message}`);
    const load = finished.result!.timings.load!;
    row('engine load (chunks verified, layouts, GPU buffers; first generation)', stored, load);
    return { adapter: engine.adapterName };
  } finally {
    await browser.close();
    await hub.close();
  }
}
