/**
 * Debian's Chromium with the built extension loaded, through playwright-core (never a downloaded browser): shared by
 * the main command and the end-to-end tests.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const EXTENSION = resolve('.output/chrome-mv3');
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu'];
/** The flags every browser here starts with: no sandbox (containers), and as little background traffic as the browser allows. */
export const BROWSER_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface ExtensionBrowser {
  context: BrowserContext;
  extensionId: string;
  /** The fresh profile's folder (removed by `close`). */
  profile: string;
  open(path: string): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Leaves the popup's first-run screen (shown while no model is downloaded) for the built-in demo model; returns
 * whether it was shown. Waits until the popup shows either.
 */
export async function continueWithBuiltinModel(page: Page): Promise<boolean> {
  const button = page.getByRole('button', { name: /^Continue with the built-in demo model/ });
  await button.or(page.getByLabel('Prompt', { exact: true })).first().waitFor({ timeout: 120_000 });
  if (!(await button.isVisible())) return false;
  await button.click();
  await page.getByLabel('Prompt', { exact: true }).waitFor();
  return true;
}

/**
 * Chromium with the built extension loaded (headless unless `headless: false`), in a fresh profile that closing
 * removes, or in the folder `keptProfile`, which stays for a browser started again on it.
 */
export async function launchWithExtension(extraArgs: string[], headless = true, keptProfile?: string): Promise<ExtensionBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  if (!existsSync(join(EXTENSION, 'manifest.json'))) throw new Error(`${EXTENSION} is missing: run \`wxt build\` first`);
  const profile = keptProfile ?? (await mkdtemp(join(tmpdir(), 'sd-ext-')));
  const removeProfile = () => (keptProfile ? Promise.resolve() : rm(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    // Playwright's headless mode is Chromium's new headless, which loads unpacked extensions.
    headless,
    args: [
      ...extraArgs,
      ...BROWSER_FLAGS,
      `--disable-extensions-except=${EXTENSION}`,
      `--load-extension=${EXTENSION}`,
    ],
  });
  let worker = context.serviceWorkers()[0];
  try {
    // The service worker starts within seconds, or a minute on a loaded 2-core machine.
    worker ??= await context.waitForEvent('serviceworker', { timeout: 120_000 });
  } catch (error) {
    // Nobody else holds the browser yet: close it rather than leave it running.
    await context.close();
    await removeProfile();
    throw error;
  }
  const extensionId = new URL(worker.url()).host;
  return {
    context,
    extensionId,
    profile,
    async open(path) {
      const page = await context.newPage();
      await page.goto(`chrome-extension://${extensionId}/${path}`);
      return page;
    },
    async close() {
      await context.close();
      await removeProfile();
    },
  };
}
