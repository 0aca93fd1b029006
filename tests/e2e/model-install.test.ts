/**
 * Model installs that need no second click, in the built extension (Debian's Chromium, headless), against the local
 * hub-like server (tests/helpers/hub-server.ts) serving the fixture model:
 *
 * - an install from the options page whose connection breaks and whose browser then closes finishes by itself when
 *   the browser starts again on the same profile: no page is opened; the service worker, starting with the browser,
 *   starts the offscreen document, which resumes the install from the component and byte where it stopped; an
 *   install the user stopped before the restart waits for its Resume;
 * - a model folder dropped on the options page's drop zone is imported, and a drop of text says what it needs; the
 *   import runs in the offscreen document, so it finishes when the page that started it is closed mid-way, and a page
 *   opened afterwards lists the model ready. The drops are Chromium's own (CDP `Input.dispatchDragEvent` with the folder's path), so the page walks a real
 *   directory entry as it does for a user's drag from the file manager; a `DataTransfer` built in the page has no
 *   entries to walk.
 *
 * No generation runs: the weights are only downloaded, converted and stored.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page, Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { TINY_MODEL } from '../models/fixtures';

const REPO = 'test/tiny-sd1';
/** A second install, which the user stops: it waits for the user after the restart. */
const STOPPED = 'test/stopped-copy';
const UNET = 'unet/diffusion_pytorch_model.safetensors';
/** The weight downloads' requests, not the one-byte size probes a browser sends the CDN path too. */
const NOT_A_PROBE = /^(?!bytes=0-0$)/;
const VAE = 'vae/diffusion_pytorch_model.safetensors';
/** The dropped folder's name, which becomes the imported model's. */
const DROPPED = 'dropped-model';
/** A second dropped folder, whose page is closed while it imports. */
const LEFT = 'left-behind';

/** A stored model's manifest status, read in the service worker (opening a page would start the offscreen document). */
function manifestStatus(worker: Worker, modelId: string): Promise<string | null> {
  return worker.evaluate(
    (id) =>
      new Promise<string | null>((resolve, reject) => {
        const open = indexedDB.open('sd-webgpu');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction('manifests').objectStore('manifests').get(id);
          get.onsuccess = () => {
            open.result.close();
            resolve((get.result as { status?: string } | undefined)?.status ?? null);
          };
          get.onerror = () => reject(get.error);
        };
      }),
    modelId,
  );
}

function modelRow(options: Page, name: RegExp) {
  return options.getByRole('row', { name });
}

describe('model installs without a second click', () => {
  let hub: HubServer;
  let profile: string;
  let folder: string;
  let browser: ExtensionBrowser | undefined;

  beforeAll(async () => {
    hub = await startHubServer({ [REPO]: TINY_MODEL, [STOPPED]: TINY_MODEL });
    profile = await mkdtemp(join(tmpdir(), 'sd-ext-restart-'));
    folder = await mkdtemp(join(tmpdir(), 'sd-drop-'));
    await cp(TINY_MODEL, join(folder, DROPPED), { recursive: true });
    await cp(TINY_MODEL, join(folder, LEFT), { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await hub?.close();
    await rm(profile, { recursive: true, force: true });
    await rm(folder, { recursive: true, force: true });
  });

  it('an install cut off by closing the browser finishes when the browser starts again, with no page open; one the user stopped waits', { timeout: 300_000 }, async () => {
    browser = await launchWithExtension(WEBGPU_ARGS, true, profile);
    const options = await browser.open('options.html');
    await options.getByLabel('Hugging Face endpoint').fill(hub.base);
    await options.getByRole('button', { name: 'Save endpoint' }).click();
    await options.getByText(`Downloads now come from ${hub.base}.`).waitFor();
    await options.getByLabel('Store weights as').selectOption('f32');

    // The user stops one install while its first weights are on their way.
    let releaseStopped!: () => void;
    hub.fault(new RegExp(`^/cdn/${STOPPED}/`), { kind: 'hold', release: new Promise<void>((resolve) => (releaseStopped = resolve)) }, 1, NOT_A_PROBE);
    await options.getByLabel('Hugging Face repository').fill(STOPPED);
    await options.getByRole('button', { name: 'Install from Hugging Face' }).click();
    await expect.poll(() => hub.log.some((r) => r.path.startsWith(`/cdn/${STOPPED}/`) && NOT_A_PROBE.test(r.range ?? '')), { timeout: 120_000 }).toBe(true);
    await options.getByRole('button', { name: /^Stop installing/ }).click();
    await modelRow(options, new RegExp(STOPPED)).getByRole('button', { name: 'Resume installing stopped-copy' }).waitFor({ timeout: 60_000 });
    releaseStopped();

    // The UNet's connection breaks halfway (what arrived is stored); its retry hangs until the browser is gone.
    const cutAt = Math.floor(hub.file(REPO, UNET).byteLength / 2);
    let release!: () => void;
    hub.fault(new RegExp(`^/cdn/.*${UNET}`), { kind: 'cut', afterBytes: cutAt }, 1, NOT_A_PROBE);
    hub.fault(new RegExp(`^/cdn/.*${UNET}`), { kind: 'hold', release: new Promise<void>((resolve) => (release = resolve)) }, 1, NOT_A_PROBE);
    await options.getByLabel('Hugging Face repository').fill(REPO);
    await options.getByRole('button', { name: 'Install from Hugging Face' }).click();
    // The retry reached the server (and hangs there), so the parts before it are stored.
    await expect.poll(() => hub.log.some((r) => r.path.startsWith('/cdn/') && r.path.endsWith(UNET) && r.range?.startsWith(`bytes=${cutAt}-`)), { timeout: 120_000 }).toBe(true);
    await browser.close();
    release();
    const before = hub.log.length;

    browser = await launchWithExtension(WEBGPU_ARGS, true, profile);
    const worker = browser.context.serviceWorkers()[0]!;
    await expect.poll(() => manifestStatus(worker, REPO), { timeout: 120_000, interval: 1000 }).toBe('complete');
    // The text encoder was stored before the cut, half the UNet had arrived: the rest of those was all it fetched.
    expect(hub.log.slice(before).filter((r) => r.path.startsWith('/cdn/') && NOT_A_PROBE.test(r.range ?? '')).map((r) => [r.path.split('/').slice(4).join('/'), r.range])).toEqual([
      // Chromium's cache adds the end of the file to the range asked for.
      [UNET, expect.stringMatching(new RegExp(`^bytes=${cutAt}-`))],
      [VAE, undefined],
    ]);
    const reopened = await browser.open('options.html');
    await expect.poll(() => modelRow(reopened, new RegExp(REPO)).getByRole('cell').allInnerTexts(), { timeout: 60_000 }).toEqual(['f32', expect.stringMatching(/^1[23]\.\d+ MB$/), 'ready', 'Delete']);
    // The one the user stopped asked nothing of the hub and waits for its Resume.
    expect(hub.log.slice(before).some((r) => r.path.includes(STOPPED))).toBe(false);
    const stopped = modelRow(reopened, new RegExp(STOPPED));
    expect((await stopped.getByRole('cell').allInnerTexts()).slice(0, 3)).toEqual(['f32', expect.any(String), 'incomplete']);
    expect(await stopped.getByRole('button', { name: 'Resume installing stopped-copy' }).count()).toBe(1);
  });

  /** An options page set to store int8 weights, and a drop of `data` on its drop zone as a user's drag makes it. */
  async function dropZone(b: ExtensionBrowser) {
    const options = await b.open('options.html');
    await options.getByLabel('Store weights as').selectOption('int8');
    const zone = options.locator('.drop');
    await zone.scrollIntoViewIfNeeded();
    const box = (await zone.boundingBox())!;
    const cdp = await b.context.newCDPSession(options);
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const drop = async (data: { items: { mimeType: string; data: string }[]; files?: string[] }) => {
      for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, ...at, data: { ...data, dragOperationsMask: 1 } });
    };
    return { options, drop };
  }

  it('imports a model folder dropped on the options page; a drop without files says what it needs', async () => {
    browser ??= await launchWithExtension(WEBGPU_ARGS, true, profile);
    const { options, drop } = await dropZone(browser);
    // Text dragged from a page brings no files: the page says what it needs.
    await drop({ items: [{ mimeType: 'text/plain', data: 'model_index.json' }] });
    await options.getByRole('alert').filter({ hasText: 'Nothing to import' }).getByText(/drop the diffusers model folder itself/).waitFor();
    await drop({ items: [], files: [join(folder, DROPPED)] });
    await options.getByText(new RegExp(`^Imported ${DROPPED} \\(int8, [\\d.]+ MB\\)\\.$`)).waitFor({ timeout: 120_000 });
    // The list is read again after the import's message: the row follows it.
    await expect.poll(() => modelRow(options, new RegExp(DROPPED)).getByRole('cell').allInnerTexts(), { timeout: 60_000 }).toEqual(['int8', expect.stringMatching(/^[34]\.\d+ MB$/), 'ready', 'Delete']);
  });

  it('an import goes on when the options page that started it closes, and a page opened later lists the model', async () => {
    browser ??= await launchWithExtension(WEBGPU_ARGS, true, profile);
    const worker = browser.context.serviceWorkers()[0]!;
    const { options, drop } = await dropZone(browser);
    await drop({ items: [], files: [join(folder, LEFT)] });
    await options.getByRole('progressbar', { name: `Import of ${LEFT}` }).waitFor({ timeout: 60_000 });
    await options.close();
    // Still running when the page was gone: what completes it from here on is the offscreen document alone.
    expect(await manifestStatus(worker, `local/${LEFT}`)).not.toBe('complete');
    await expect.poll(() => manifestStatus(worker, `local/${LEFT}`), { timeout: 120_000, interval: 250 }).toBe('complete');
    const reopened = await browser.open('options.html');
    await expect.poll(() => modelRow(reopened, new RegExp(LEFT)).getByRole('cell').allInnerTexts(), { timeout: 60_000 }).toEqual(['int8', expect.stringMatching(/^[34]\.\d+ MB$/), 'ready', 'Delete']);
    // The outcome was the closed page's to show; this one shows no message of an import it did not see end.
    expect(await reopened.getByText(/^Imported /).count()).toBe(0);
  });
});
