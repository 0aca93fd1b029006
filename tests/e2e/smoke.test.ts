/**
 * Smoke test of the built extension in Debian's Chromium (headless, WebGPU on SwiftShader): the popup reaches the
 * engine through the background and the offscreen document, the options page lists the adapter's limits, messages
 * that are not requests of this extension get no result, and a browser without a GPU gets an error that says what
 * to do.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser as Browser } from '../../cli/chromium';

const launch = (args: string[]) => launchWithExtension(args);

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
    browser = await launch(WEBGPU_ARGS);
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
