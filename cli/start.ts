/**
 * The main command (`npm start`): with a display, opens Chromium with the freshly built extension and its popup;
 * without one, runs the extension headless, waits for the engine in its offscreen document to report the GPU,
 * prints what it found and writes a screenshot of the popup to `out/popup.png`.
 */
import { mkdir } from 'node:fs/promises';
import { launchWithExtension, WEBGPU_ARGS } from './chromium';

const OUT = 'out';

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
    await page.setViewportSize({ width: 400, height: 600 });
    await page.locator('main dl, [role=alert]').first().waitFor({ timeout: 120_000 });
    const alert = page.getByRole('alert');
    await mkdir(OUT, { recursive: true });
    await page.screenshot({ path: `${OUT}/popup.png`, fullPage: true });
    if ((await alert.count()) > 0) {
      console.error(`The engine did not start: ${await alert.innerText()}`);
      process.exitCode = 1;
      return;
    }
    console.log((await page.locator('main').innerText()).trim());
    console.log(`\nScreenshot of the popup: ${OUT}/popup.png`);
  } finally {
    await browser.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
