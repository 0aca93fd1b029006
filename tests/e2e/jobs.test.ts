/**
 * Jobs beyond the popup's own, through the built extension in Debian's Chromium (headless, WebGPU on SwiftShader):
 * generating from text selected on a page through the context menu's handler (Playwright cannot click native menus,
 * so the test calls the function the menu calls, on the service worker's global scope), its notification and the
 * gallery item it opens; re-using a gallery item's parameters; the order of a queue of popup and menu jobs, which a
 * stopped service worker does not lose, and a job whose offscreen document is closed mid-run failing with the reason,
 * which the popup keeps showing beside the next job until it is dismissed, while the queue goes on; img2img from
 * a result, and inpainting a stroke painted over it (the popup's mask painter also passes axe-core's rules).
 *
 * The generations are 64 × 64 with one or two steps and no classifier-free guidance: the defaults the menu jobs use
 * are set to that in the settings store, as the options page would.
 */
import type { Page, Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueWithBuiltinModel, launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import { dataUrlBytes } from '../../lib/data-url';
import type { JobState } from '../../lib/messages';
import { decodeImagePng, toRgb8 } from '../../lib/png';
import { PREFERENCES_KEY, type GenerationDefaults } from '../../storage/preferences';
import { accessibilityViolations } from '../helpers/axe';

const DEFAULTS: GenerationDefaults = { steps: 1, guidance: 1, size: 64, scheduler: 'euler', emphasis: true };
/** The settings a menu job takes from those defaults (menu jobs have no negative prompt). */
const MENU_SETTINGS = { steps: 1, guidance: 1, width: 64, height: 64, scheduler: 'euler', negativePrompt: '', emphasis: true };
// The first generation compiles every pipeline in SwiftShader, on a machine shared with other work.
const GENERATION_TIMEOUT = 600_000;

type Chrome = {
  runtime: { sendMessage(m: unknown): Promise<{ value: unknown }> };
  notifications: { getAll(): Promise<Record<string, boolean>> };
  offscreen: { closeDocument(): Promise<void> };
};
type WorkerScope = {
  chrome: Chrome;
  generateFromSelection(info: { menuItemId: string; selectionText?: string; editable: boolean; pageUrl: string }): Promise<JobState | undefined>;
  openNotification(id: string): Promise<void>;
};

/** The background's queue: the last finished job, then those still to finish. */
async function jobs(page: Page): Promise<JobState[]> {
  return page.evaluate(async () => {
    const { runtime } = (globalThis as unknown as { chrome: Chrome }).chrome;
    return (await runtime.sendMessage({ target: 'background', type: 'jobs', id: 'test' })).value as JobState[];
  });
}

/** Gallery records as stored, oldest first: key and prompt. */
function galleryRecords(page: Page): Promise<{ id: number; prompt: string; strength?: number }[]> {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('sd-webgpu');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('gallery').objectStore('gallery').getAll();
          all.onsuccess = () => {
            open.result.close();
            const records = all.result as { id: number; params: { settings: { prompt: string; startImage?: { strength: number } } } }[];
            resolve(records.map((r) => ({ id: r.id, prompt: r.params.settings.prompt, strength: r.params.settings.startImage?.strength })));
          };
        };
      }),
  );
}

/** The PNG of gallery item `id` as stored, as a data URL. */
function galleryPng(page: Page, id: number): Promise<string> {
  return page.evaluate(
    (key) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('sd-webgpu');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction('gallery').objectStore('gallery').get(key);
          get.onerror = () => reject(get.error);
          get.onsuccess = () => {
            open.result.close();
            const reader = new FileReader();
            reader.onload = () => resolve(reader.result as string);
            reader.onerror = () => reject(reader.error);
            // Stored as the PNG's bytes (lib/gallery.ts).
            reader.readAsDataURL(new Blob([(get.result as { png: ArrayBuffer }).png], { type: 'image/png' }));
          };
        };
      }),
    id,
  );
}

describe('jobs from the context menu, the queue and the gallery', () => {
  let browser: ExtensionBrowser;
  let popup: Page;
  let worker: Worker;
  /** The text selected on the test page and the seed its job drew. */
  let selected: { text: string; seed: number; galleryId: number };

  const generateButton = (page: Page) => page.getByRole('button', { name: 'Generate', exact: true });
  const resultImage = (page: Page) => page.getByRole('img', { name: /^Generated image/ });

  /** Calls the context menu's handler as Chromium would for a selection on `pageUrl`. */
  function menuClick(selectionText: string, pageUrl = 'https://page.test/'): Promise<JobState | undefined> {
    return worker.evaluate(
      ([text, url]) => (globalThis as unknown as WorkerScope).generateFromSelection({ menuItemId: 'generate-from-selection', selectionText: text, editable: false, pageUrl: url }),
      [selectionText, pageUrl] as const,
    );
  }

  /** Waits until the queue has nothing left to run; returns the last finished job (after any failures kept). */
  async function settled(page: Page): Promise<JobState> {
    await expect.poll(async () => (await jobs(page)).filter((j) => ['queued', 'running', 'cancelling'].includes(j.status)).length, { timeout: GENERATION_TIMEOUT, interval: 500 }).toBe(0);
    return (await jobs(page)).at(-1)!;
  }

  beforeAll(async () => {
    browser = await launchWithExtension(WEBGPU_ARGS);
    worker = browser.context.serviceWorkers()[0]!;
    popup = await browser.open('popup.html');
    await popup.setViewportSize({ width: 600, height: 800 });
    await continueWithBuiltinModel(popup);
    await popup.waitForFunction(() => document.querySelector<HTMLButtonElement>('button[type=submit]')?.disabled === false, undefined, { timeout: 120_000 });
    // The defaults the options page keeps in the settings store; menu jobs read them there.
    await popup.evaluate(
      ([key, defaults]) =>
        new Promise<void>((resolve, reject) => {
          const open = indexedDB.open('sd-webgpu');
          open.onsuccess = () => {
            const tx = open.result.transaction('settings', 'readwrite');
            const store = tx.objectStore('settings');
            // Only the defaults change: the rest of the preferences (first run done) stays as the popup left it.
            const read = store.get(key);
            read.onsuccess = () => store.put({ ...(read.result as object | undefined), defaults }, key);
            tx.oncomplete = () => {
              open.result.close();
              resolve();
            };
            tx.onerror = () => reject(tx.error);
          };
          open.onerror = () => reject(open.error);
        }),
      [PREFERENCES_KEY, DEFAULTS] as const,
    );
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('offers the keyboard shortcut that opens the popup', async () => {
    const commands = await popup.evaluate(() =>
      (globalThis as unknown as { chrome: { commands: { getAll(): Promise<{ name: string; shortcut: string }[]> } } }).chrome.commands.getAll(),
    );
    expect(commands).toContainEqual(expect.objectContaining({ name: '_execute_action', shortcut: 'Alt+Shift+G' }));
  });

  it(
    'generates from text selected on a page; the notification opens the image, which is in the gallery',
    async () => {
      const page = await browser.context.newPage();
      await page.route('https://page.test/', (route) =>
        route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Test page</title><p id="t">A <b>lighthouse</b>\n  on a <i>cliff</i> at dusk</p>' }),
      );
      await page.goto('https://page.test/');
      const text = await page.evaluate(() => {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById('t')!);
        getSelection()!.removeAllRanges();
        getSelection()!.addRange(range);
        return getSelection()!.toString();
      });
      const queued = await menuClick(text);
      expect(queued).toMatchObject({ status: 'queued', source: 'menu', cutChars: 0, settings: { ...MENU_SETTINGS, prompt: 'A lighthouse on a cliff at dusk', seed: null, model: 'tiny-sd1' } });
      // An empty selection makes no job.
      expect(await menuClick('  \n ')).toBeUndefined();

      const done = await settled(popup);
      expect(done).toMatchObject({ jobId: queued!.jobId, status: 'done', result: { gallery: { id: expect.any(Number) } } });
      const galleryId = (done.result!.gallery as { id: number }).id;
      selected = { text: done.settings.prompt, seed: done.seed, galleryId };

      // The notification names the gallery item; clicking it opens the item in a tab.
      const notifications = await worker.evaluate(() => (globalThis as unknown as WorkerScope).chrome.notifications.getAll());
      expect(Object.keys(notifications)).toContain(`gallery-${galleryId}`);
      const [tab] = await Promise.all([
        browser.context.waitForEvent('page'),
        worker.evaluate((id) => (globalThis as unknown as WorkerScope).openNotification(id), `gallery-${galleryId}`),
      ]);
      await tab.waitForLoadState();
      expect(new URL(tab.url()).search).toBe(`?item=${galleryId}`);
      const dialog = tab.getByRole('dialog');
      await dialog.waitFor();
      expect(await dialog.getByRole('img', { name: `History image: ${selected.text}` }).count()).toBe(1);
      expect(await dialog.locator('.result-facts').innerText()).toMatch(new RegExp(`Seed\\s+${done.seed}\\s+Size\\s+64 × 64`));
      await tab.close();

      // The popup's gallery shows it.
      await popup.getByRole('img', { name: `History image: ${selected.text}` }).first().waitFor();
      await page.close();
    },
    GENERATION_TIMEOUT,
  );

  it('re-using a gallery item restores all its parameters into the form', async () => {
    expect(selected, 'the menu job made no image').toBeDefined();
    await popup.getByLabel('Prompt', { exact: true }).fill('something else');
    await popup.getByLabel('Negative prompt').fill('blurry');
    await popup.getByLabel('Steps').fill('9');
    await popup.getByLabel('Seed').fill('');
    await popup.getByRole('button', { name: `History image: ${selected.text}` }).first().click();
    const dialog = popup.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Reuse settings' }).click();
    expect(await dialog.count()).toBe(0);
    expect(await popup.getByLabel('Prompt', { exact: true }).inputValue()).toBe(selected.text);
    expect(await popup.getByLabel('Negative prompt').inputValue()).toBe(MENU_SETTINGS.negativePrompt);
    expect(await popup.getByLabel('Steps').inputValue()).toBe(String(MENU_SETTINGS.steps));
    expect(await popup.getByLabel('Guidance').inputValue()).toBe(String(MENU_SETTINGS.guidance));
    expect(await popup.getByLabel('Width').inputValue()).toBe('64');
    expect(await popup.getByLabel('Height').inputValue()).toBe('64');
    expect(await popup.getByLabel('Scheduler').inputValue()).toBe(MENU_SETTINGS.scheduler);
    // The seed that was drawn, so the same image comes back.
    expect(await popup.getByLabel('Seed').inputValue()).toBe(String(selected.seed));
    await popup.getByText('The settings of the image are in the form.').waitFor();
  });

  it(
    'runs popup and menu jobs in the order asked, through a stopped service worker',
    async () => {
      const before = (await galleryRecords(popup)).length;
      const prompt = popup.getByLabel('Prompt', { exact: true });
      await popup.getByLabel('Seed').fill('11');
      await prompt.fill('first from the popup');
      await generateButton(popup).click();
      await menuClick('second from a page');
      await prompt.fill('third from the popup');
      await generateButton(popup).click();
      await popup.getByRole('heading', { name: 'Waiting (2)' }).waitFor();

      // Chromium stops idle workers at will: the queue is in storage, and the runner's next update wakes a new one.
      const cdp = await browser.context.newCDPSession(popup);
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.stopAllWorkers');

      await settled(popup);
      const made = (await galleryRecords(popup)).slice(before);
      expect(made.map((r) => r.prompt)).toEqual(['first from the popup', 'second from a page', 'third from the popup']);

    },
    GENERATION_TIMEOUT,
  );

  it(
    'starts from a result (img2img) with the strength chosen',
    async () => {
      await resultImage(popup).waitFor();
      const start = (await jobs(popup)).at(-1)!;
      await popup.getByRole('button', { name: 'Use as starting image' }).click();
      const strength = popup.getByLabel(/^Strength/);
      await strength.fill('0.5');
      await popup.getByLabel('Steps').fill('2');
      await popup.getByLabel('Prompt', { exact: true }).fill('the same, changed');
      await generateButton(popup).click();
      const done = await settled(popup);
      const startId = (start.result!.gallery as { id: number }).id;
      expect(done).toMatchObject({ status: 'done', settings: { prompt: 'the same, changed', startImage: { galleryId: startId, strength: 0.5 } } });
      expect(done.result!.timings.encode).toBeGreaterThan(0);
      const png = decodeImagePng(dataUrlBytes(done.result!.image));
      expect(png.parameters).toMatchObject({ prompt: 'the same, changed', strength: 0.5, steps: 2 });
      expect((await galleryRecords(popup)).at(-1)).toMatchObject({ prompt: 'the same, changed', strength: 0.5 });
    },
    GENERATION_TIMEOUT,
  );

  it(
    'inpaints a stroke painted over the starting image and keeps the unpainted pixels',
    async () => {
      await popup.getByText('Paint the area to change').click();
      const canvas = popup.getByRole('img', { name: /^Mask over the starting image/ });
      await canvas.scrollIntoViewIfNeeded();
      const box = (await canvas.boundingBox())!;
      // A vertical stroke down the right quarter; the top-left corner stays unpainted.
      await popup.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.2);
      await popup.mouse.down();
      await popup.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.9, { steps: 8 });
      await popup.mouse.up();
      await popup.getByText(/\d+% of the image is repainted\./).waitFor();
      expect(await accessibilityViolations(popup)).toEqual([]);
      await popup.getByLabel(/^Strength/).fill('1');
      await popup.getByLabel('Prompt', { exact: true }).fill('a painted stroke');
      await generateButton(popup).click();
      const done = await settled(popup);
      expect(done).toMatchObject({ status: 'done', settings: { prompt: 'a painted stroke', startImage: { strength: 1, mask: expect.stringMatching(/^data:image\/png;base64,/) } } });
      const result = decodeImagePng(dataUrlBytes(done.result!.image));
      expect(result.parameters).toMatchObject({ prompt: 'a painted stroke', mask: true });
      const start = decodeImagePng(dataUrlBytes(await galleryPng(popup, done.settings.startImage!.galleryId)));
      const [ours, theirs] = [toRgb8(result.rgb), toRgb8(start.rgb)];
      // The top-left 24 × 24 pixels (the stroke runs down the right side).
      const corner = (rgb: Uint8Array) => Array.from({ length: 24 }, (_, y) => [...rgb.subarray(y * result.width * 3, (y * result.width + 24) * 3)]);
      expect(corner(ours)).toEqual(corner(theirs));
      expect(ours).not.toEqual(theirs);
      // Reuse restores the mask with the rest of the settings.
      await popup.getByRole('button', { name: 'Clear the mask: change the whole image' }).click();
      await popup.getByText('Nothing painted: the whole image changes.').waitFor();
      await popup.getByRole('button', { name: 'History image: a painted stroke' }).first().click();
      await popup.getByRole('dialog').getByRole('button', { name: 'Reuse settings' }).click();
      await popup.getByText(/\d+% of the image is repainted\./).waitFor();
    },
    GENERATION_TIMEOUT,
  );

  it(
    'a job whose engine closes mid-run fails with the reason, and the next job starts in a new engine',
    async () => {
      const prompt = popup.getByLabel('Prompt', { exact: true });
      // The worker that runs now (the one above was stopped).
      worker = browser.context.serviceWorkers().at(-1)!;
      await popup.getByRole('button', { name: 'Remove' }).click();
      // Steps enough that the document is closed while the job runs.
      await popup.getByLabel('Steps').fill('4');
      await prompt.fill('lost with its engine');
      await generateButton(popup).click();
      await prompt.fill('made by a new engine');
      await generateButton(popup).click();
      await popup.getByRole('heading', { name: 'Waiting (1)' }).waitFor();
      await popup.getByRole('img', { name: 'Preview of the image being generated' }).waitFor({ timeout: GENERATION_TIMEOUT });
      await worker.evaluate(() => (globalThis as unknown as WorkerScope).chrome.offscreen.closeDocument());
      await expect.poll(async () => (await jobs(popup)).map((j) => [j.settings.prompt, j.status, j.error?.name]), { timeout: 60_000 }).toEqual([
        ['lost with its engine', 'failed', 'EngineStoppedError'],
        ['made by a new engine', 'running', undefined],
      ]);
      // A new offscreen document runs it (compiling its pipelines again takes minutes on SwiftShader: not waited for).
      const runner = await popup.evaluate(async () => {
        const { runtime } = (globalThis as unknown as { chrome: Chrome }).chrome;
        return (await runtime.sendMessage({ target: 'offscreen', type: 'runner-state', id: 'test' })).value as { running: JobState | null };
      });
      expect(runner.running?.settings.prompt).toBe('made by a new engine');

      // The failure stays in the popup, saying what to do, above the next job's progress; a popup opened now shows it too.
      const failure = (page: Page) => page.locator('.failure');
      for (const page of [popup, await browser.open('popup.html')]) {
        await failure(page).getByRole('alert').filter({ hasText: 'The engine stopped' }).waitFor({ timeout: 60_000 });
        expect(await failure(page).innerText()).toMatch(/Generate it again[\s\S]*Not made: “lost with its engine”/);
        // Beside it, the next job: its progress, or its image should it have finished meanwhile.
        await page.getByRole('progressbar', { name: 'Generation progress' }).or(page.getByRole('img', { name: 'Generated image: made by a new engine' })).first().waitFor();
        if (page !== popup) await page.close();
      }
      await failure(popup).getByRole('button', { name: 'Put its settings in the form' }).click();
      expect(await prompt.inputValue()).toBe('lost with its engine');
      await failure(popup).getByRole('button', { name: 'Dismiss' }).click();
      expect(await failure(popup).count()).toBe(0);
      await expect.poll(async () => (await jobs(popup)).map((j) => j.settings.prompt)).toEqual(['made by a new engine']);
    },
    GENERATION_TIMEOUT,
  );
});
