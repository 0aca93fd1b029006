/**
 * Smoke test of the built extension in Debian's Chromium (headless, WebGPU on SwiftShader): the popup reaches the
 * engine through the background and the offscreen document, the options page lists the adapter's limits, messages
 * that are not requests of this extension get no result, and a browser without a GPU gets an error that says what
 * to do.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const EXTENSION = resolve('.output/chrome-mv3');

interface Browser {
  context: BrowserContext;
  extensionId: string;
  open(path: string): Promise<Page>;
  close(): Promise<void>;
}

/** Chromium with the built extension loaded, in a fresh profile. */
async function launch(gpuArgs: string[]): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  if (!existsSync(join(EXTENSION, 'manifest.json'))) throw new Error(`${EXTENSION} is missing: run \`wxt build\` first`);
  const profile = await mkdtemp(join(tmpdir(), 'sd-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    // Playwright's headless mode is Chromium's new headless, which loads unpacked extensions.
    headless: true,
    args: [
      ...gpuArgs,
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--disable-extensions-except=${EXTENSION}`,
      `--load-extension=${EXTENSION}`,
    ],
  });
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  const extensionId = new URL(worker.url()).host;
  return {
    context,
    extensionId,
    async open(path) {
      const page = await context.newPage();
      await page.goto(`chrome-extension://${extensionId}/${path}`);
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** The page's definition list as { term: description }. */
function definitions(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ''])),
  );
}

/** Waits until the engine answered; its error, if it sent one. */
async function engineError(page: Page): Promise<string | undefined> {
  await page.locator('main dl, [role=alert]').first().waitFor();
  const alert = page.getByRole('alert');
  return (await alert.count()) > 0 ? alert.innerText() : undefined;
}

describe('extension on WebGPU (SwiftShader)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch(['--enable-unsafe-webgpu']);
  });
  afterAll(() => browser?.close());

  it('popup shows the adapter and a passing kernel self-check', async () => {
    const page = await browser.open('popup.html');
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Local Diffusion');
    expect(await engineError(page)).toBeUndefined();
    const shown = await definitions(page);
    expect(shown['Adapter']).toMatch(/swiftshader/i);
    expect(shown['Kernel self-check']).toBe('✓ passed');
    // SwiftShader has no shader-f16; the list names only what the adapter has.
    expect(shown['Features']).not.toContain('shader-f16');
    await page.close();
  });

  it('options page lists the adapter features and device limits in tables', async () => {
    const page = await browser.open('options.html');
    expect(await engineError(page)).toBeUndefined();
    expect((await definitions(page))['Name']).toMatch(/swiftshader/i);
    const features = page.getByRole('table', { name: 'Optional features' });
    expect(await features.getByRole('row', { name: /shader-f16/ }).innerText()).toMatch(/shader-f16\s+no/);
    const limits = page.getByRole('table', { name: 'Device limits the engine runs with' });
    expect(await limits.getByRole('row').count()).toBeGreaterThan(5);
    const binding = await limits.getByRole('row', { name: /maxStorageBufferBindingSize/ }).getByRole('cell').innerText();
    // At least WebGPU's default of 128 MiB.
    expect(Number(binding.split(' ')[0]!.replaceAll(',', ''))).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    await page.close();
  });

  it('answers malformed messages from its own pages with errors, never a result', async () => {
    const page = await browser.open('popup.html');
    expect(await engineError(page)).toBeUndefined();
    const send = (message: unknown) =>
      page.evaluate(
        (m) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage(m),
        message,
      );
    expect(await send({ type: 'generate-everything', id: 'a' })).toMatchObject({ type: 'error', id: 'a', name: 'MessageError' });
    expect(await send('engine-status')).toMatchObject({ type: 'error', id: '', name: 'MessageError' });
    expect(await send({ type: 'engine-status' })).toMatchObject({ type: 'error', name: 'MessageError', message: 'request without an id' });
    // Addressed to the offscreen document directly: it validates too.
    expect(await send({ target: 'offscreen', type: 'engine-status', id: 'b', extra: 1 })).toMatchObject({ type: 'error', id: 'b', name: 'MessageError' });
    expect(await send({ target: 'background', type: 'engine-status', id: 'c' })).toMatchObject({ type: 'result', id: 'c' });
    await page.close();
  });

  it('cannot be messaged from an ordinary web page', async () => {
    const page = await browser.context.newPage();
    await page.route('https://page.test/', (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>page</title>' }));
    await page.goto('https://page.test/');
    // The manifest declares no externally_connectable, so web pages get no runtime messaging at all.
    const hasMessaging = await page.evaluate(
      () => typeof (globalThis as { chrome?: { runtime?: { sendMessage?: unknown } } }).chrome?.runtime?.sendMessage === 'function',
    );
    expect(hasMessaging).toBe(false);
    await page.close();
  });
});

describe('extension without a GPU', () => {
  let browser: Browser;
  beforeAll(async () => {
    // No GPU process at all: no adapter even on a machine with a GPU.
    browser = await launch(['--disable-gpu', '--disable-software-rasterizer']);
  });
  afterAll(() => browser?.close());

  it('popup says WebGPU is unavailable and what to do', async () => {
    const page = await browser.open('popup.html');
    const error = await engineError(page);
    expect(error).toContain('WebGPU is not available');
    expect(error).toContain('hardware acceleration');
    await page.close();
  });
});
