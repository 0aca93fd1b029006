/**
 * A hostile web page against the built extension (Debian's Chromium, headless, WebGPU on SwiftShader):
 * - text selected on a page that contains markup and script as text reaches the job as exactly that text, the popup
 *   shows it verbatim, and none of it runs in any of the extension's pages;
 * - every network request Playwright reports while this happens (the extension's pages and the test page; not the
 *   offscreen document's or the service worker's) is recorded: none leaves the extension's own files except the test
 *   page's.
 * The menu's jobs are cancelled rather than generated: generation itself is tested in generate.test.ts and jobs.test.ts.
 */
import type { Page, Request, Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueWithBuiltinModel, launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import type { JobState } from '../../lib/messages';

type Runtime = { runtime: { sendMessage(m: unknown): Promise<{ type: string; value: unknown }> } };
type WorkerScope = {
  generateFromSelection(info: { menuItemId: string; selectionText?: string; editable: boolean; pageUrl: string }): Promise<JobState | undefined>;
};

/** The page's text, as a selection of it gives it: markup and script written as text, plus real markup around it. */
const PAGE = `<!doctype html><title>Hostile page</title>
<p id="t">&lt;img src=x onerror="globalThis.pwned='img'"&gt; a fox &lt;script&gt;globalThis.pwned='script'&lt;/script&gt; <b>in</b> &lt;/span&gt;&lt;b&gt;snow&amp;amp;</p>
<script>globalThis.pageScriptRan = true;</script>`;
const SELECTED = `<img src=x onerror="globalThis.pwned='img'"> a fox <script>globalThis.pwned='script'</script> in </span><b>snow&amp;`;

describe('a hostile page', () => {
  let browser: ExtensionBrowser;
  let worker: Worker;
  const requests: Request[] = [];

  beforeAll(async () => {
    browser = await launchWithExtension(WEBGPU_ARGS);
    browser.context.on('request', (request) => requests.push(request));
    worker = browser.context.serviceWorkers()[0]!;
  });
  afterAll(() => browser?.close());

  async function cancelAll(page: Page): Promise<void> {
    await page.evaluate(async () => {
      const { runtime } = (globalThis as unknown as { chrome: Runtime }).chrome;
      const jobs = (await runtime.sendMessage({ target: 'background', type: 'jobs', id: 'list' })).value as JobState[];
      for (const job of jobs) {
        if (['queued', 'running'].includes(job.status)) await runtime.sendMessage({ target: 'background', type: 'cancel', id: `c-${job.jobId}`, jobId: job.jobId });
      }
    });
  }

  it('its markup and script in a selection are plain prompt text, shown verbatim, never run', async () => {
    const page = await browser.context.newPage();
    await page.route('https://page.test/', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
    await page.goto('https://page.test/');
    expect(await page.evaluate(() => (globalThis as { pageScriptRan?: boolean }).pageScriptRan)).toBe(true);
    const text = await page.evaluate(() => {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById('t')!);
      getSelection()!.removeAllRanges();
      getSelection()!.addRange(range);
      return getSelection()!.toString();
    });
    expect(text).toBe(SELECTED);

    const popup = await browser.open('popup.html');
    await continueWithBuiltinModel(popup);
    await popup.waitForFunction(() => document.querySelector<HTMLButtonElement>('button[type=submit]')?.disabled === false, undefined, { timeout: 300_000 });
    // Two menu jobs: the first runs, the second waits in the popup's list with its prompt.
    const menu = (selectionText: string) =>
      worker.evaluate(
        (t) => (globalThis as unknown as WorkerScope).generateFromSelection({ menuItemId: 'generate-from-selection', selectionText: t, editable: false, pageUrl: 'https://page.test/' }),
        selectionText,
      );
    const first = await menu(text);
    const second = await menu(text);
    expect(first?.settings.prompt).toBe(SELECTED);
    expect(second?.settings.prompt).toBe(SELECTED);

    const waiting = popup.locator('.waiting .prompt-line');
    await waiting.first().waitFor();
    expect(await waiting.first().innerText()).toBe(`From the page: ${SELECTED}`);
    const injected = await popup.evaluate(() => ({
      pwned: (globalThis as { pwned?: string }).pwned,
      images: document.querySelectorAll('img[src="x"]').length,
      inlineScripts: document.querySelectorAll('script:not([src])').length,
      bold: [...document.querySelectorAll('.waiting b')].length,
    }));
    expect(injected).toEqual({ pwned: undefined, images: 0, inlineScripts: 0, bold: 0 });
    expect(await worker.evaluate(() => (globalThis as { pwned?: string }).pwned)).toBeUndefined();
    await cancelAll(popup);
    await page.close();
    await popup.close();
  }, 400_000);

  it('made no network request outside the extension besides loading the test page', async () => {
    const extension = `chrome-extension://${browser.extensionId}/`;
    const outside = requests.map((r) => r.url()).filter((url) => !url.startsWith(extension) && url !== 'https://page.test/');
    expect(outside).toEqual([]);
    // The recorder saw the popup load its code. Playwright does not report the offscreen document's or the service
    // worker's requests: network.test.ts records those, and security.test.ts checks their code names no other host.
    expect(requests.some((r) => r.url().startsWith(`${extension}chunks/popup-`))).toBe(true);
  });
});
