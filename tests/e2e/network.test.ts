/**
 * Every network request the built extension makes in a user's session (Debian's Chromium, headless, WebGPU on
 * SwiftShader), recorded at the browser level (tests/helpers/network-recorder.ts: the service worker, the offscreen
 * document where downloads and the engine run, the popup and options pages, and any frame or worker in them):
 *
 * - the session: the popup's first-run screen; the options page pointing the Hugging Face endpoint at the local hub
 *   server (tests/helpers/hub-server.ts, the stand-in for huggingface.co) and installing the fixture model from it;
 *   a 64 × 64, one-step image generated with it from the popup; the options page opened again;
 * - the service worker, running before the recorder was, is stopped first: it runs again in the target the recorder
 *   watches; every document and worker the session opens is held at its start until the recorder watches it;
 * - the recording is shown complete where it can be checked: each request the hub server received is in it, made
 *   by the offscreen document, and a fetch made here in the service worker is in it;
 * - every request goes to the extension's own files (chrome-extension://, data:, blob:), the hosts of the manifest's
 *   host permissions (the README's permissions table, checked in security.test.ts), or the hub server that the
 *   Hugging Face endpoint preference names;
 * - the browser's own net log of the session (tests/helpers/net-log.ts), which also holds what no page or worker
 *   asks for (the browser's own services, anything fetched on the extension's behalf): the extension's requests go
 *   to the same places, and the browser's own requests and host lookups are those it makes without the extension.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION, launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import type { JobState } from '../../lib/messages';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { browserOwnTraffic, readNetLog } from '../helpers/net-log';
import { recordNetwork, type NetworkRecorder } from '../helpers/network-recorder';
import { TINY_MODEL } from '../models/fixtures';

const REPO = 'test/tiny-sd1';
const GENERATION_TIMEOUT = 300_000;

function send(page: Page, message: unknown): Promise<unknown> {
  return page.evaluate(
    (m) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage(m),
    message,
  );
}

/** A test for one host permission's match pattern (`https://huggingface.co/*`, `https://*.hf.co/*`). */
function matchPattern(pattern: string): (url: URL) => boolean {
  const parsed = pattern.match(/^(https?):\/\/(\*\.)?([^/*]+)\/\*$/);
  if (!parsed) throw new Error(`host permission ${pattern}: not a pattern this test reads`);
  const [, scheme, anySubdomain, host] = parsed as unknown as [string, string, string | undefined, string];
  return (url) => url.protocol === `${scheme}:` && (url.hostname === host || (anySubdomain !== undefined && url.hostname.endsWith(`.${host}`)));
}

describe('network requests of the extension', () => {
  let hub: HubServer;
  let browser: ExtensionBrowser;
  let recorder: NetworkRecorder;
  let extension: string;
  /** The extension's service worker's states as Chromium reports them from the stop below on. */
  const workerStates: { status: string; targetId?: string }[] = [];
  let logDir: string;
  let started: number;

  /** Whether `url` is one the extension may ask for: its own files, the model hosts, or the endpoint set. */
  function allowed(url: string): boolean {
    const manifest = JSON.parse(readFileSync(join(EXTENSION, 'manifest.json'), 'utf8')) as { host_permissions?: string[] };
    const hosts = (manifest.host_permissions ?? []).map(matchPattern);
    return url.startsWith(extension) || url.startsWith('data:') || url.startsWith(`blob:${extension}`) || url.startsWith(`${hub.base}/`) || hosts.some((host) => host(new URL(url)));
  }

  beforeAll(async () => {
    hub = await startHubServer({ [REPO]: TINY_MODEL });
    logDir = await mkdtemp(join(tmpdir(), 'sd-netlog-'));
    started = Date.now();
    // The recorder's own DevTools connection: Playwright's pipe cannot reach the targets it attaches to.
    browser = await launchWithExtension([...WEBGPU_ARGS, '--remote-debugging-port=0', `--log-net-log=${join(logDir, 'net-log.json')}`]);
    extension = `chrome-extension://${browser.extensionId}/`;
    recorder = await recordNetwork(browser.profile);
  }, 300_000);
  afterAll(async () => {
    await recorder?.close();
    await browser?.close();
    await hub?.close();
    await rm(logDir, { recursive: true, force: true });
  });

  it('a session: first run, install from the hub on the options page, generate from the popup, options again', async () => {
    // The worker started before the recorder did: stopped (from the browser's first, blank tab), the next message
    // starts one under the recorder.
    const cdp = await browser.context.newCDPSession(browser.context.pages()[0]!);
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
      for (const v of versions) if (v.scriptURL.startsWith(extension)) workerStates.push({ status: v.runningStatus, targetId: v.targetId });
    });
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await expect.poll(() => workerStates.some((s) => s.status === 'stopped')).toBe(true);

    const firstRun = await browser.open('popup.html');
    await firstRun.getByRole('button', { name: /^Continue with the built-in demo model/ }).waitFor({ timeout: 120_000 });
    await firstRun.close();

    const options = await browser.open('options.html');
    await options.getByLabel('Hugging Face endpoint').fill(hub.base);
    await options.getByRole('button', { name: 'Save endpoint' }).click();
    await options.getByText(`Downloads now come from ${hub.base}.`).waitFor();
    await options.getByLabel('Hugging Face repository').fill(REPO);
    await options.getByRole('button', { name: 'Install from Hugging Face' }).click();
    const row = options.getByRole('row', { name: new RegExp(REPO) });
    await expect.poll(() => row.getByRole('cell').nth(2).innerText(), { timeout: 120_000 }).toBe('ready');
    await options.close();

    const popup = await browser.open('popup.html');
    // The model just installed is the one the popup opens with.
    await expect.poll(() => popup.getByLabel('Model').inputValue(), { timeout: 120_000 }).toBe(REPO);
    await popup.getByLabel('Prompt', { exact: true }).fill('a harbour at dawn');
    await popup.getByLabel('Width').selectOption('64');
    await popup.getByLabel('Height').selectOption('64');
    await popup.getByLabel('Steps').fill('1');
    await popup.getByLabel('Guidance').fill('1');
    const generate = popup.getByRole('button', { name: 'Generate' });
    await expect.poll(() => generate.isEnabled(), { timeout: 120_000 }).toBe(true);
    await generate.click();
    await popup.getByRole('img', { name: /^Generated image/ }).or(popup.locator('.job [role=alert]')).first().waitFor({ timeout: GENERATION_TIMEOUT });
    const job = ((await send(popup, { target: 'background', type: 'job-state', id: 'j' })) as { value: JobState }).value;
    expect(job).toMatchObject({ status: 'done', model: REPO });
    await popup.close();

    const again = await browser.open('options.html');
    await again.getByRole('row', { name: new RegExp(REPO) }).waitFor();
    await again.close();
    await cdp.detach();

    // The recorder's check on the service worker: a request made there is recorded as the worker's.
    const worker = browser.context.serviceWorkers().filter((w) => w.url().startsWith(extension)).at(-1);
    expect(worker, 'no service worker of the extension runs').toBeDefined();
    expect(await worker!.evaluate(async (url) => (await fetch(url)).ok, `${extension}manifest.json`)).toBe(true);
    // Its record arrives on the recorder's own connection, not necessarily before Playwright's answer.
    await expect
      .poll(() => recorder.requests.some((r) => r.targetType === 'service_worker' && r.url === `${extension}manifest.json`), { timeout: 10_000 })
      .toBe(true);
  }, GENERATION_TIMEOUT + 300_000);

  it('recorded every context of the session, each watched from its start', async () => {
    expect(recorder.failures).toEqual([]);
    const targets = recorder.targets.filter((t) => t.url.startsWith(extension));
    const held = (path: string) => targets.filter((t) => t.url === `${extension}${path}` && t.heldAtStart).length;
    // The worker ran again after the stop, in a target the recorder was attached to.
    const restarted = workerStates.slice(workerStates.findIndex((s) => s.status === 'stopped')).filter((s) => s.status === 'running');
    expect(restarted.length).toBeGreaterThan(0);
    for (const { targetId } of restarted) expect(recorder.targets.find((t) => t.targetId === targetId)?.url).toBe(`${extension}background.js`);
    expect(held('offscreen.html')).toBeGreaterThanOrEqual(1);
    expect(held('popup.html')).toBe(2);
    expect(held('options.html')).toBe(2);
  });

  it('recorded each request the hub server received, made by the offscreen document', async () => {
    // The configs, the size and hash probes and the weights: the install went through the hub.
    expect(hub.log.filter((r) => r.path.startsWith('/cdn/') && r.method === 'GET').length).toBeGreaterThanOrEqual(3);
    const recorded = new Set(recorder.requests.filter((r) => r.targetUrl === `${extension}offscreen.html`).map((r) => `${r.method} ${r.url}`));
    const missing = hub.log.map((r) => `${r.method} ${hub.base}${r.path}`).filter((request) => !recorded.has(request));
    expect(missing).toEqual([]);
  });

  it('made no request but to its own files, the model hosts and the Hugging Face endpoint set', async () => {
    const requests = recorder.requests;
    expect(requests.filter((r) => r.targetType !== 'browser_ui').length).toBeGreaterThan(20);
    // Chromium's own interface (the omnibox's WebUI pages) is recorded too: it loads its chrome:// resources.
    const outside = requests
      .filter((r) => (r.targetType === 'browser_ui' ? !/^(chrome|data):/.test(r.url) : !allowed(r.url)))
      .map((r) => `${r.method} ${r.url} (${r.targetType} ${r.targetUrl})`);
    expect(outside).toEqual([]);
    const byType = new Map<string, number>();
    for (const r of requests) byType.set(r.targetType, (byType.get(r.targetType) ?? 0) + 1);
    const counts = [...byType].map(([type, n]) => `${type} ${n}`).join(', ');
    console.log(`network: ${requests.length} requests recorded (${counts}), ${hub.log.length} of them to the hub server, none elsewhere`);
  });

  it("the browser's net log: the extension's requests go to the same places, and the browser's own are those it makes without the extension", async () => {
    // The net log is complete once the browser has closed.
    const session = Date.now() - started;
    await recorder.close();
    await browser.close();
    const log = await readNetLog(join(logDir, 'net-log.json'));
    const origin = extension.slice(0, -1);
    const byExtension = log.requests.filter((r) => r.initiator === origin);
    expect(byExtension.filter((r) => !allowed(r.url)).map((r) => `${r.method} ${r.url}`)).toEqual([]);
    // The install's downloads, made by the offscreen document, are in it.
    expect(hub.log.filter((r) => !byExtension.some((q) => q.url === `${hub.base}${r.path}`)).map((r) => r.path)).toEqual([]);
    // Nothing else asked for anything: no page of the session is anyone's but the extension's.
    expect(log.requests.filter((r) => r.initiator !== null && r.initiator !== origin).map((r) => `${r.initiator} → ${r.url}`)).toEqual([]);

    // The same browser with the same flags and no extension, for as long as the session took (half a minute at most: its requests come at its start).
    const own = await browserOwnTraffic(Math.min(session, 30_000));
    const hostOf = (url: string) => new URL(url).hostname;
    const ownHosts = new Set([...own.requests.map((r) => hostOf(r.url)), ...own.resolvedHosts]);
    const browserHosts = [...new Set(log.requests.filter((r) => r.initiator === null && !allowed(r.url)).map((r) => hostOf(r.url)))];
    expect(browserHosts.filter((host) => !ownHosts.has(host))).toEqual([]);
    const hubHost = hostOf(hub.base);
    const lookups = log.resolvedHosts.filter((host) => host !== hubHost && !allowed(`https://${host}/`));
    expect(lookups.filter((host) => !ownHosts.has(host))).toEqual([]);
    console.log(
      `net log: ${log.requests.length} requests, ${byExtension.length} by the extension (${hub.log.length} to the hub); ` +
        `the browser's own went to ${browserHosts.join(', ') || 'nothing'}, as it does without the extension (${[...ownHosts].join(', ') || 'nothing'})`,
    );
  }, 180_000);
});
