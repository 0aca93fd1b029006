/**
 * `npm run screenshots`: the pictures of the extension that the README shows, made from the built extension in
 * headless Chromium with the built-in model and written to docs/: the popup idle, generating (live preview, progress,
 * a second job waiting), with the result, the history gallery with an item open, and the options page.
 */
import { mkdir } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { continueWithBuiltinModel, launchWithExtension, WEBGPU_ARGS } from './chromium';

const DOCS = 'docs';
// SwiftShader compiles every pipeline on the CPU the first time: minutes on a small or busy machine.
const GENERATION_TIMEOUT_MS = 15 * 60_000;

/** The page at its content's height, as Chromium sizes a popup (a modal dialog's backdrop then covers all of it). */
async function shoot(page: Page, name: string): Promise<void> {
  const width = page.viewportSize()!.width;
  // Measured in a short viewport: a document is never shorter than its viewport.
  await page.setViewportSize({ width, height: 200 });
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width, height });
  await page.screenshot({ path: `${DOCS}/${name}.png` });
  console.log(`wrote ${DOCS}/${name}.png`);
}

/** Fills the form as a user would; the rest keeps what the popup shows. */
async function fill(page: Page, values: { prompt: string; steps: string; seed: string }): Promise<void> {
  await page.getByLabel('Prompt', { exact: true }).fill(values.prompt);
  await page.getByLabel('Steps').fill(values.steps);
  await page.getByLabel('Guidance').fill('1');
  await page.getByLabel('Seed').fill(values.seed);
}

async function main(): Promise<void> {
  await mkdir(DOCS, { recursive: true });
  const browser = await launchWithExtension(WEBGPU_ARGS);
  try {
    const popup = await browser.open('popup.html');
    await popup.setViewportSize({ width: 600, height: 560 });
    // A fresh profile opens on the first-run screen (no model downloaded yet).
    await popup.getByRole('button', { name: /^Continue with the built-in demo model/ }).waitFor({ timeout: 120_000 });
    await shoot(popup, 'popup-first-run');
    await continueWithBuiltinModel(popup);
    await popup.waitForFunction(() => document.querySelector<HTMLButtonElement>('button[type=submit]')?.disabled === false, undefined, { timeout: 120_000 });
    await fill(popup, { prompt: 'a lighthouse on a cliff at sunset, oil painting', steps: '6', seed: '42' });
    await shoot(popup, 'popup-idle');

    const generate = popup.getByRole('button', { name: 'Generate', exact: true });
    await generate.click();
    await fill(popup, { prompt: 'a red fox in fresh snow, morning light', steps: '2', seed: '7' });
    await generate.click();
    await popup.getByRole('img', { name: 'Preview of the image being generated' }).waitFor({ timeout: GENERATION_TIMEOUT_MS });
    // A denoise step or two in, so the bar and the time left mean something.
    await popup.getByText(/Denoising: step [2-9]/).waitFor({ timeout: GENERATION_TIMEOUT_MS });
    await shoot(popup, 'popup-generating');

    await popup.getByRole('img', { name: /^Generated image: a red fox/ }).waitFor({ timeout: GENERATION_TIMEOUT_MS });
    await shoot(popup, 'popup-result');

    await popup.getByRole('button', { name: /^History image: a lighthouse/ }).first().click();
    await popup.getByRole('dialog').getByRole('img').waitFor();
    await shoot(popup, 'popup-gallery');

    const options = await browser.open('options.html');
    await options.setViewportSize({ width: 900, height: 700 });
    await options.waitForLoadState('networkidle');
    await shoot(options, 'options');
  } finally {
    await browser.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
