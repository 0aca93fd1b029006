/**
 * The main command (`npm start`): with a display, opens Chromium with the freshly built extension and its popup;
 * without one, runs a generation headless through the extension — popup → background → offscreen engine — with the
 * built-in default model: types a prompt, generates with a fixed seed, and writes the image (`out/image.png`, the
 * PNG the popup's Download gives) and screenshots of the popup's first-run screen (no model downloaded yet), idle, generating (with the live preview) and with the
 * result. It prints the engine's adapter, the seed, the size and the stage timings.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { dataUrlBytes } from '../lib/data-url';
import type { JobState } from '../lib/messages';
import { SAMPLER_LABELS } from '../lib/samplers';
import { continueWithBuiltinModel, launchWithExtension, WEBGPU_ARGS } from './chromium';

const OUT = 'out';
const PROMPT = 'a lighthouse on a cliff at sunset, oil painting';
const SEED = '42';
// Few steps and no classifier-free guidance (a batch of one): on a machine without a GPU, SwiftShader runs the
// built-in model's UNet in seconds per step.
const STEPS = '4';
const GUIDANCE = '1';
// SwiftShader compiles every pipeline on the CPU the first time: minutes on a small or busy machine.
const GENERATION_TIMEOUT_MS = 15 * 60_000;

/** The offscreen document's current job, asked the way the popup asks. */
function jobState(page: Page): Promise<JobState | null> {
  return page.evaluate(async () => {
    const { runtime } = (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<{ value: JobState | null }> } } }).chrome;
    return (await runtime.sendMessage({ target: 'background', type: 'job-state', id: 'npm-start' })).value;
  });
}

const seconds = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(1)} s`);

async function main(): Promise<void> {
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) {
    const browser = await launchWithExtension(WEBGPU_ARGS, false);
    await browser.open('popup.html');
    console.log('Chromium is open with the extension loaded; close the window to finish.');
    await new Promise((resolve) => browser.context.on('close', resolve));
    return;
  }
  const browser = await launchWithExtension(WEBGPU_ARGS);
  try {
    const page = await browser.open('popup.html');
    await page.setViewportSize({ width: 600, height: 480 });
    await page.locator('dl.engine, [role=alert]').first().waitFor({ timeout: 120_000 });
    const alert = page.getByRole('alert');
    await mkdir(OUT, { recursive: true });
    if ((await alert.count()) > 0) {
      await page.screenshot({ path: `${OUT}/popup-idle.png`, fullPage: true });
      console.error(`The engine did not start: ${await alert.innerText()}`);
      process.exitCode = 1;
      return;
    }
    // A fresh profile has no downloaded model: the popup opens on its first-run screen, which is shot, then left.
    const firstRun = page.getByRole('button', { name: /^Continue with the built-in demo model/ });
    await firstRun.or(page.getByLabel('Prompt', { exact: true })).first().waitFor({ timeout: 120_000 });
    if (await firstRun.isVisible()) await page.screenshot({ path: `${OUT}/popup-first-run.png`, fullPage: true });
    await continueWithBuiltinModel(page);
    const engine = await page.locator('dl.engine dt').evaluateAll((terms) => terms.map((dt) => `${dt.textContent}: ${dt.nextElementSibling?.textContent ?? ''}`));
    console.log(engine.join('\n'));

    await page.getByLabel('Prompt', { exact: true }).fill(PROMPT);
    await page.getByLabel('Steps').fill(STEPS);
    await page.getByLabel('Guidance').fill(GUIDANCE);
    await page.getByLabel('Seed').fill(SEED);
    await page.getByRole('button', { name: 'Generate' }).waitFor();
    await page.waitForFunction(() => !(document.querySelector('button[type=submit]') as HTMLButtonElement).disabled);
    await page.screenshot({ path: `${OUT}/popup-idle.png`, fullPage: true });

    console.log(`\nGenerating "${PROMPT}" (seed ${SEED}, ${STEPS} steps, guidance ${GUIDANCE}) through the extension…`);
    const started = Date.now();
    await page.getByLabel('Prompt', { exact: true }).press('Enter');
    await page.getByRole('img', { name: 'Preview of the image being generated' }).waitFor({ timeout: GENERATION_TIMEOUT_MS });
    await page.screenshot({ path: `${OUT}/popup-generating.png`, fullPage: true });
    await page.locator('img[alt^="Generated image"], .job [role=alert]').first().waitFor({ timeout: GENERATION_TIMEOUT_MS });
    await page.screenshot({ path: `${OUT}/popup-result.png`, fullPage: true });

    const job = await jobState(page);
    if (job?.status !== 'done' || !job.result) {
      console.error(`The generation did not finish: ${job?.error ? `${job.error.name}: ${job.error.message}` : (job?.status ?? 'no job')}`);
      process.exitCode = 1;
      return;
    }
    const { result } = job;
    await writeFile(`${OUT}/image.png`, dataUrlBytes(result.image));
    const t = result.timings;
    console.log(`Seed ${job.seed}, ${result.width}×${result.height}, ${SAMPLER_LABELS[job.settings.scheduler]}, ${job.settings.steps} steps.`);
    console.log(
      `Times: load ${seconds(t.load)}, text ${seconds(t.text)}, denoise ${seconds(t.denoise)}, decode ${seconds(t.decode)}; ` +
        `engine total ${seconds(t.total)}, ${seconds(Date.now() - started)} from the Enter key to the image.`,
    );
    console.log(`\nWrote ${OUT}/image.png and the screenshots ${OUT}/popup-first-run.png, ${OUT}/popup-idle.png, ${OUT}/popup-generating.png, ${OUT}/popup-result.png`);
  } finally {
    await browser.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
