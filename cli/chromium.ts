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

export interface ExtensionBrowser {
  context: BrowserContext;
  extensionId: string;
  open(path: string): Promise<Page>;
  close(): Promise<void>;
}

/** Chromium with the built extension loaded, in a fresh profile (headless unless `headless: false`). */
export async function launchWithExtension(extraArgs: string[], headless = true): Promise<ExtensionBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  if (!existsSync(join(EXTENSION, 'manifest.json'))) throw new Error(`${EXTENSION} is missing: run \`wxt build\` first`);
  const profile = await mkdtemp(join(tmpdir(), 'sd-ext-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    // Playwright's headless mode is Chromium's new headless, which loads unpacked extensions.
    headless,
    args: [
      ...extraArgs,
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
