/**
 * Generation through the built extension in Debian's Chromium (headless, WebGPU on SwiftShader), driven from the
 * popup as a user would: the image equals what the engine computes in Node (Dawn on SwiftShader) for the same model,
 * prompt, seed and settings; closing the popup mid-generation does not stop the job and the reopened popup follows it
 * to the end; the popup with a result passes axe-core's accessibility rules; Download gives the PNG with its
 * parameters and Copy puts it on the clipboard; Cancel stops a job mid-generation and the popup returns to idle;
 * malformed requests are refused with the reason, and any multiple of 8 as a size runs (72 × 88: latents odd at
 * every UNet level); several images from one Generate queue one job each, on consecutive seeds.
 *
 * SwiftShader runs the built-in model at a few seconds per UNet evaluation, so the generations here are 64 × 64 with
 * two steps and no classifier-free guidance (a batch of one).
 */
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueWithBuiltinModel, launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import { ModelFolder } from '../../cli/model-folder';
import { GpuContext } from '../../engine/gpu/context';
import { nodeGpu } from '../../engine/gpu/node-gpu';
import { StableDiffusion } from '../../engine/pipeline';
import { dataUrlBytes } from '../../lib/data-url';
import { isActive, type GenerationSettings, type JobState } from '../../lib/messages';
import { decodeImagePng, toRgb8 } from '../../lib/png';
import { accessibilityViolations } from '../helpers/axe';

const FIXTURE_MODEL = '../shared/fixtures/tiny-sd1/model';
const SETTINGS: GenerationSettings = {
  prompt: 'a red fox in the snow',
  negativePrompt: 'blurry',
  steps: 2,
  guidance: 1,
  width: 64,
  height: 64,
  seed: 1234,
  // Ancestral: the seeded generator feeds every step as well as the starting noise.
  scheduler: 'euler-a',
  model: 'tiny-sd1',
};
// The first generation compiles every pipeline in SwiftShader, on a machine shared with other work.
const GENERATION_TIMEOUT = 600_000;

/** Sends a message as the page's own code would, returning the raw answer. */
function send(page: Page, message: unknown): Promise<unknown> {
  return page.evaluate(
    (m) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage(m),
    message,
  );
}

async function currentJob(page: Page): Promise<JobState | null> {
  const answer = (await send(page, { target: 'background', type: 'job-state', id: 'test' })) as { value: JobState | null };
  return answer.value;
}

async function nodeImage(): Promise<Float32Array> {
  const ctx = await GpuContext.create(await nodeGpu());
  const folder = new ModelFolder(FIXTURE_MODEL);
  try {
    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32' });
    const result = await sd.generate({ ...SETTINGS, seed: SETTINGS.seed! });
    sd.unload();
    return result.image;
  } finally {
    await folder.close();
    await ctx.destroy();
  }
}

const generateButton = (page: Page) => page.getByRole('button', { name: 'Generate' });
const resultImage = (page: Page) => page.getByRole('img', { name: /^Generated image/ });

describe('generating from the popup', () => {
  let browser: ExtensionBrowser;
  let popup: Page;
  let image: string | undefined;

  /** The toolbar badge's text, as the service worker set it. */
  function badge(): Promise<string> {
    const worker = browser.context.serviceWorkers()[0]!;
    return worker.evaluate(() => (globalThis as unknown as { chrome: { action: { getBadgeText(d: object): Promise<string> } } }).chrome.action.getBadgeText({}));
  }

  /** The popup, once the engine, the model and the current job are known (Generate is enabled then). */
  async function openPopup(): Promise<Page> {
    const page = await browser.open('popup.html');
    await page.setViewportSize({ width: 600, height: 600 });
    await continueWithBuiltinModel(page);
    await expect.poll(() => generateButton(page).isEnabled(), { timeout: 120_000 }).toBe(true);
    return page;
  }

  beforeAll(async () => {
    browser = await launchWithExtension(WEBGPU_ARGS);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it(
    'runs on when the popup closes mid-generation; the reopened popup follows the job to its image',
    async () => {
      let page = await openPopup();
      const prompt = page.getByLabel('Prompt', { exact: true });
      // Focus starts in the prompt.
      expect(await prompt.evaluate((el) => el === document.activeElement)).toBe(true);
      await prompt.fill(SETTINGS.prompt);
      await page.getByLabel('Negative prompt').fill(SETTINGS.negativePrompt);
      await page.getByLabel('Width').selectOption(String(SETTINGS.width));
      await page.getByLabel('Height').selectOption(String(SETTINGS.height));
      await page.getByLabel('Steps').fill(String(SETTINGS.steps));
      await page.getByLabel('Guidance').fill(String(SETTINGS.guidance));
      await page.getByLabel('Scheduler').selectOption(SETTINGS.scheduler);
      await page.getByLabel('Seed').fill(String(SETTINGS.seed));
      await prompt.press('Enter');

      await page.getByRole('img', { name: 'Preview of the image being generated' }).waitFor({ timeout: GENERATION_TIMEOUT });
      const progress = page.getByRole('progressbar', { name: 'Generation progress' });
      expect(Number(await progress.getAttribute('value'))).toBeGreaterThan(0);
      expect(await page.getByRole('button', { name: 'Cancel' }).isEnabled()).toBe(true);
      // Another Generate would queue a job behind this one.
      expect(await generateButton(page).isEnabled()).toBe(true);
      expect(await badge()).toMatch(/^\d{1,2}%$/);
      await page.close();

      page = await browser.open('popup.html');
      await page.setViewportSize({ width: 600, height: 600 });
      const reopened = await currentJob(page);
      expect(reopened?.status).toBe('running');
      // The reopened popup shows the running job with the settings it was started with.
      await page.getByRole('progressbar', { name: 'Generation progress' }).waitFor();
      await expect.poll(() => page.getByLabel('Prompt', { exact: true }).inputValue()).toBe(SETTINGS.prompt);
      expect(await page.getByLabel('Seed').inputValue()).toBe(String(SETTINGS.seed));

      await resultImage(page).waitFor({ timeout: GENERATION_TIMEOUT });
      expect(await page.getByRole('progressbar').count()).toBe(0);
      expect(await page.locator('.result-facts').innerText()).toMatch(/Seed\s+1234\s+Size\s+64 × 64\s+Sampler\s+Euler a, 2 steps, guidance 1/);
      expect(await generateButton(page).isEnabled()).toBe(true);
      image = (await resultImage(page).getAttribute('src')) ?? undefined;
      const job = await currentJob(page);
      expect(job).toMatchObject({ status: 'done', seed: SETTINGS.seed, settings: SETTINGS, model: 'tiny-sd1' });
      expect(job!.result!.image).toBe(image);
      expect(await badge()).toBe('');
      popup = page;
    },
    GENERATION_TIMEOUT,
  );

  it(
    'makes the image the engine makes in Node for the same model, prompt, seed and settings (within 1/255)',
    async () => {
      expect(image, 'the popup made no image').toBeDefined();
      const png = decodeImagePng(dataUrlBytes(image!));
      expect([png.width, png.height]).toEqual([SETTINGS.width, SETTINGS.height]);
      const got = toRgb8(png.rgb);
      // Made once the browser is done: the Node engine blocks this process's event loop for seconds at a time (shader
      // compiles), which stalls Playwright's driver, in this process too, past its timeouts.
      const want = toRgb8(await nodeImage());
      const maxDiff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);
      console.log(`popup vs Node engine: max difference ${maxDiff}/255 over ${got.length} values`);
      expect(maxDiff).toBeLessThanOrEqual(1);
    },
    GENERATION_TIMEOUT,
  );

  it('the popup with its result passes the accessibility rules (axe-core, light and dark)', async () => {
    expect(await accessibilityViolations(popup)).toEqual([]);
  });

  it('Download saves the PNG with its generation parameters', async () => {
    const [download] = await Promise.all([popup.waitForEvent('download'), popup.getByRole('link', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toBe('local-diffusion-1234.png');
    const bytes = await readFile((await download.path())!);
    expect(new Uint8Array(bytes)).toEqual(dataUrlBytes(image!));
    expect(decodeImagePng(bytes).parameters).toEqual({
      prompt: SETTINGS.prompt,
      negativePrompt: SETTINGS.negativePrompt,
      steps: SETTINGS.steps,
      sampler: 'Euler a',
      guidance: SETTINGS.guidance,
      seed: SETTINGS.seed,
      width: SETTINGS.width,
      height: SETTINGS.height,
      model: 'tiny-sd1',
    });
  });

  it('Copy image puts the image on the clipboard', async () => {
    await popup.getByRole('button', { name: 'Copy image' }).click();
    await popup.getByText('Copied to the clipboard.').waitFor();
    // Extension pages have no clipboard-read permission to grant (the manifest asks for none): an ordinary page that
    // is granted it reads the browser's clipboard instead.
    const reader = await browser.context.newPage();
    await reader.route('https://page.test/', (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>reader</title>' }));
    await reader.goto('https://page.test/');
    await browser.context.grantPermissions(['clipboard-read'], { origin: 'https://page.test' });
    const copied = await reader.evaluate(async () => {
      const [item] = await navigator.clipboard.read();
      const bitmap = await createImageBitmap(await item!.getType('image/png'));
      return { types: item!.types, width: bitmap.width, height: bitmap.height };
    });
    expect(copied).toEqual({ types: ['image/png'], width: SETTINGS.width, height: SETTINGS.height });
    await reader.close();
  });

  it(
    'Cancel stops a job mid-generation and the popup returns to idle',
    async () => {
      const page = await openPopup();
      // The popup opens on the last job's settings and image.
      expect(await page.getByLabel('Prompt', { exact: true }).inputValue()).toBe(SETTINGS.prompt);
      await resultImage(page).waitFor();
      await page.getByLabel('Steps').fill('4');
      await page.getByLabel('Seed').fill('');
      await generateButton(page).click();
      await page.getByRole('img', { name: 'Preview of the image being generated' }).waitFor({ timeout: GENERATION_TIMEOUT });
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: 'Cancelling…' }).waitFor();

      await page.getByText('The generation was cancelled.', { exact: true }).first().waitFor({ timeout: GENERATION_TIMEOUT });
      expect(await page.getByRole('progressbar').count()).toBe(0);
      expect(await page.getByRole('button', { name: /^Cancel/ }).count()).toBe(0);
      expect(await generateButton(page).isEnabled()).toBe(true);
      expect(await resultImage(page).count()).toBe(0);
      const job = await currentJob(page);
      expect(job).toMatchObject({ status: 'cancelled', result: null, settings: { steps: 4, seed: null } });
      expect(job!.progress.done).toBeLessThan(job!.progress.total);
      // A job that is over cannot be cancelled again.
      expect(await send(page, { target: 'background', type: 'cancel', id: 'c', jobId: job!.jobId })).toMatchObject({ value: { cancelled: false } });
      await page.close();
    },
    GENERATION_TIMEOUT,
  );

  it('refuses malformed generate requests with the reason, and makes any multiple of 8 as a size', async () => {
    const page = await openPopup();
    const generate = (settings: unknown, extra: Record<string, unknown> = {}) => send(page, { target: 'background', type: 'generate', id: 'g', settings, ...extra });
    const refused = { type: 'error', id: 'g', name: 'MessageError' };
    expect(await generate({ ...SETTINGS, steps: 0 })).toMatchObject({ ...refused, message: expect.stringContaining('steps') });
    expect(await generate({ ...SETTINGS, steps: 2.5 })).toMatchObject(refused);
    expect(await generate({ ...SETTINGS, guidance: 31 })).toMatchObject(refused);
    expect(await generate({ ...SETTINGS, width: 100 })).toMatchObject({ ...refused, message: expect.stringContaining('width must be a multiple of 8') });
    expect(await generate({ ...SETTINGS, seed: -1 })).toMatchObject(refused);
    expect(await generate({ ...SETTINGS, scheduler: 'magic' })).toMatchObject(refused);
    expect(await generate({ ...SETTINGS, prompt: 'x'.repeat(2001) })).toMatchObject(refused);
    expect(await generate({ ...SETTINGS, prompt: '   ' })).toMatchObject(refused);
    expect(await generate({ ...SETTINGS, initImage: [1, 2, 3] })).toMatchObject(refused);
    expect(await generate(SETTINGS, { priority: 1 })).toMatchObject(refused);
    expect(await send(page, { target: 'background', type: 'cancel', id: 'c' })).toMatchObject({ type: 'error', name: 'MessageError' });

    // Any multiple of 8 runs, as in diffusers: the popup offers them, and 72 × 88 (latents 9 × 11, odd at every UNet
    // level) makes an image of that size.
    expect(await page.getByLabel('Width').locator('option').allTextContents()).toEqual(expect.arrayContaining(['72', '88']));
    expect(await generate({ ...SETTINGS, width: 72, height: 88, steps: 1 })).toMatchObject({ type: 'result', value: { status: 'queued' } });
    await expect.poll(async () => (await currentJob(page))?.status, { timeout: GENERATION_TIMEOUT, interval: 500 }).toBe('done');
    const png = decodeImagePng(dataUrlBytes((await currentJob(page))!.result!.image));
    expect([png.width, png.height]).toEqual([72, 88]);
    await page.close();
  }, GENERATION_TIMEOUT);

  it('Images: 3 with seed 40 queues three jobs in order, seeds 40, 41 and 42, each cancellable', async () => {
    const page = await openPopup();
    const jobs = async () => ((await send(page, { target: 'background', type: 'jobs', id: 'q' })) as { value: JobState[] }).value;
    const before = new Set((await jobs()).map((j) => j.jobId));
    await page.getByLabel('Steps').fill('1');
    await page.getByLabel('Seed').fill('40');
    await page.getByLabel('Images').selectOption('3');
    await generateButton(page).click();
    await expect.poll(async () => (await jobs()).filter((j) => !before.has(j.jobId)).length, { timeout: 60_000 }).toBe(3);
    const queued = (await jobs()).filter((j) => !before.has(j.jobId)).sort((a, b) => a.createdAt - b.createdAt);
    expect(queued.map((j) => j.seed)).toEqual([40, 41, 42]);
    expect(queued.map((j) => j.settings.seed)).toEqual([40, 41, 42]);
    for (const j of queued) expect(j.settings).toMatchObject({ prompt: SETTINGS.prompt, steps: 1 });
    await page.getByRole('heading', { name: /^Waiting \([12]\)$/ }).waitFor();
    for (const j of queued) await send(page, { target: 'background', type: 'cancel', id: 'c', jobId: j.jobId });
    await expect
      .poll(async () => (await jobs()).filter((j) => !before.has(j.jobId) && isActive(j)).length, { timeout: 120_000 })
      .toBe(0);
    await page.close();
  }, GENERATION_TIMEOUT);
});
