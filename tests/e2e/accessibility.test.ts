/**
 * The extension's pages pass axe-core's accessibility rules in the light and the dark colour scheme: the popup's
 * first-run screen, its form once the built-in model is chosen, and the options page. The popup while generating and
 * with a result is checked in generate.test.ts, where a generation runs anyway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueWithBuiltinModel, launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import { accessibilityViolations } from '../helpers/axe';

describe('accessibility of the extension pages', () => {
  let browser: ExtensionBrowser;

  beforeAll(async () => {
    browser = await launchWithExtension(WEBGPU_ARGS);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('the popup: first-run screen, then the form', async () => {
    const page = await browser.open('popup.html');
    await page.setViewportSize({ width: 600, height: 600 });
    await page.getByRole('button', { name: /^Continue with the built-in demo model/ }).waitFor({ timeout: 120_000 });
    expect(await accessibilityViolations(page)).toEqual([]);
    await continueWithBuiltinModel(page);
    await expect.poll(() => page.getByRole('button', { name: 'Generate' }).isEnabled(), { timeout: 120_000 }).toBe(true);
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('the options page, with its adapter tables and model list', async () => {
    const page = await browser.open('options.html');
    await page.getByRole('button', { name: 'Install from Hugging Face' }).waitFor({ timeout: 120_000 });
    await page.getByRole('table').first().waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
  });
});
