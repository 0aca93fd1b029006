/**
 * The model store in the built extension (Debian's Chromium, headless, WebGPU on SwiftShader), driven through its
 * pages as a user would, against the local hub-like server (tests/helpers/hub-server.ts) serving the fixture model:
 *
 * - the options page points the Hugging Face endpoint at the server and installs the model by its id (f32 weights,
 *   so the stored model is the fixture's exactly); progress events reach the page while it installs;
 * - a model folder chosen with the folder picker is imported, converted to int8;
 * - with too little quota (CDP `Storage.overrideQuotaForOrigin`) another install does not start and says why, and
 *   the model already stored still loads and generates from the popup: its image equals what the engine computes in
 *   Node for the same model folder, prompt, seed and settings (within 1/255 per channel);
 * - the weight chunks the browser stored, loaded back in Node, reproduce the reference pipeline's image (fixture
 *   case 3) within the f32 pipeline tolerance of tests/models/pipeline.test.ts.
 *
 * SwiftShader runs the model at seconds per UNet evaluation: one popup generation, 64 × 64, two steps, no guidance.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import { ModelFolder } from '../../cli/model-folder';
import { GpuContext } from '../../engine/gpu/context';
import { nodeGpu } from '../../engine/gpu/node-gpu';
import { StableDiffusion } from '../../engine/pipeline';
import { dataUrlBytes } from '../../lib/data-url';
import type { GenerationSettings, JobState } from '../../lib/messages';
import type { InstallState } from '../../lib/model-messages';
import { decodeImagePng, toRgb8 } from '../../lib/png';
import type { ChunkRecord, ModelManifest } from '../../storage/db';
import { openStoredModel } from '../../storage/model-store';
import { expectClose } from '../helpers/gpu';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { caseParams, cases, tensor, TINY_MODEL } from '../models/fixtures';
import { freshDb } from '../storage/fixture';

const REPO = 'test/tiny-sd1';
const OTHER_REPO = 'test/tiny-sd1-copy';
const SETTINGS: GenerationSettings = {
  prompt: 'a lighthouse in the fog',
  negativePrompt: '',
  steps: 2,
  guidance: 1,
  width: 64,
  height: 64,
  seed: 77,
  scheduler: 'euler-a',
  model: REPO,
};
// The reference pipeline's image, as tests/models/pipeline.test.ts compares it (f32 weights).
const IMAGE_TOL = 2e-3;
const GENERATION_TIMEOUT = 600_000;

function send(page: Page, message: unknown): Promise<unknown> {
  return page.evaluate(
    (m) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage(m),
    message,
  );
}

/** Starts recording the `install-update` events the page receives. */
async function recordInstallUpdates(page: Page): Promise<() => Promise<InstallState[]>> {
  await page.evaluate(() => {
    const w = globalThis as unknown as { updates: unknown[]; chrome: { runtime: { onMessage: { addListener(f: (m: { type?: string; install?: unknown }) => void): void } } } };
    w.updates = [];
    w.chrome.runtime.onMessage.addListener((m) => {
      if (m.type === 'install-update') w.updates.push(m.install);
    });
  });
  return () => page.evaluate(() => (globalThis as unknown as { updates: InstallState[] }).updates);
}

/** The manifest and weight chunks of a model as the extension stored them in IndexedDB. */
async function storedRecords(page: Page, modelId: string): Promise<{ manifest: ModelManifest; chunks: (Omit<ChunkRecord, 'bytes'> & { base64: string })[] }> {
  return page.evaluate(async (id) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('sd-webgpu');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const all = <T,>(store: string, query?: IDBKeyRange | string) =>
      new Promise<T>((resolve, reject) => {
        const request = query === undefined || query instanceof IDBKeyRange ? db.transaction(store).objectStore(store).getAll(query) : db.transaction(store).objectStore(store).get(query);
        request.onsuccess = () => resolve(request.result as T);
        request.onerror = () => reject(request.error);
      });
    const manifest = await all<ModelManifest>('manifests', id);
    const records = await all<ChunkRecord[]>('chunks', IDBKeyRange.bound([id], [id, []]));
    const base64 = (buffer: ArrayBuffer) => {
      const bytes = new Uint8Array(buffer);
      let text = '';
      for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(text);
    };
    db.close();
    return { manifest, chunks: records.map((c) => ({ modelId: c.modelId, index: c.index, sha256: c.sha256, base64: base64(c.bytes) })) };
  }, modelId);
}

describe('model store in the extension', () => {
  let hub: HubServer;
  let browser: ExtensionBrowser;
  let options: Page;
  let ctx: Promise<GpuContext> | undefined;
  /**
   * The Node engine runs after the browser's work, never beside it: its model loads and shader compiles hold this
   * process's event loop, which starves Playwright's waits on a busy machine.
   */
  async function nodeImage(): Promise<Float32Array> {
    ctx ??= nodeGpu().then((gpu) => GpuContext.create(gpu));
    const folder = new ModelFolder(TINY_MODEL);
    try {
      const sd = await StableDiffusion.open(await ctx, folder, { format: 'f32' });
      const result = await sd.generate({ ...SETTINGS, seed: SETTINGS.seed! });
      sd.unload();
      return result.image;
    } finally {
      await folder.close();
    }
  }
  /** The manifest and chunks the browser stored, read once the install is done. */
  let records: ReturnType<typeof storedRecords> | undefined;

  async function runStoredCopy(): Promise<{ image: Float32Array; chunks: number; chunkReads: number }> {
    const { manifest, chunks } = await records!;
    expect(manifest).toMatchObject({ id: REPO, status: 'complete', format: 'f32', nextChunk: chunks.length });
    const { db } = await freshDb();
    await db.put('manifests', manifest);
    for (const c of chunks) {
      const bytes = Buffer.from(c.base64, 'base64');
      await db.put('chunks', { modelId: c.modelId, index: c.index, sha256: c.sha256, bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    }
    const stored = await openStoredModel(db, REPO);
    const c = cases.pipeline[3]!;
    ctx ??= nodeGpu().then((gpu) => GpuContext.create(gpu));
    const sd = await StableDiffusion.open(await ctx, stored, { format: manifest.format });
    const result = await sd.generate(caseParams(c));
    sd.unload();
    db.close();
    return { image: result.image, chunks: chunks.length, chunkReads: stored.stats.chunkReads };
  }

  beforeAll(async () => {
    hub = await startHubServer({ [REPO]: TINY_MODEL, [OTHER_REPO]: TINY_MODEL });
    // The browser first: the Node engine's synchronous model load would starve Playwright's service-worker wait.
    browser = await launchWithExtension(WEBGPU_ARGS);
    options = await browser.open('options.html');
    // Starting Chromium and its service worker takes minutes when the machine is busy.
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await hub?.close();
    await (await ctx?.catch(() => undefined))?.destroy();
  }, GENERATION_TIMEOUT);

  it('installs the fixture model from the Hugging Face endpoint set on the options page', async () => {
    const updates = await recordInstallUpdates(options);
    await options.getByLabel('Hugging Face endpoint').fill(hub.base);
    await options.getByRole('button', { name: 'Save endpoint' }).click();
    await options.getByText(`Downloads now come from ${hub.base}.`).waitFor();

    await options.getByLabel('Store weights as').selectOption('f32');
    await options.getByLabel('Hugging Face repository').fill(REPO);
    await options.getByRole('button', { name: 'Install from Hugging Face' }).click();
    const row = options.getByRole('row', { name: new RegExp(REPO) });
    await expect.poll(() => row.getByRole('cell').allInnerTexts(), { timeout: 120_000 }).toEqual(['f32', expect.stringMatching(/^1[23]\.\d+ MB$/), 'ready', 'Delete']);

    const states = await updates();
    expect(states.at(-1)).toMatchObject({ modelId: REPO, phase: 'done', format: 'f32', error: null });
    const download = states.filter((s) => s.phase === 'download');
    expect(download.length).toBeGreaterThan(0);
    const weights = ['text_encoder/model.safetensors', 'unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors'];
    const total = weights.reduce((sum, path) => sum + hub.file(REPO, path).byteLength, 0);
    expect(download.every((s) => s.total === total && s.bytes <= total)).toBe(true);
    // The fp16 variants were asked for first (the fixture has none), then each full file downloaded once.
    expect(hub.log.filter((r) => r.path.startsWith('/cdn/') && r.method === 'GET' && !r.range).map((r) => r.path.split('/').slice(4).join('/'))).toEqual(weights);
    records = storedRecords(options, REPO);
    records.catch(() => undefined);
  });

  it('imports a model folder from disk, converting it to int8', async () => {
    await options.getByLabel('Store weights as').selectOption('int8');
    // The fixture folder's own name becomes the model's: local/model.
    await options.getByLabel(/^Choose a diffusers model folder/).setInputFiles(TINY_MODEL);
    await options.getByText(/^Imported model \(int8, [\d.]+ MB\)\.$/).waitFor({ timeout: 120_000 });
    const row = options.getByRole('row', { name: /imported from disk/ });
    expect(await row.getByRole('cell').allInnerTexts()).toEqual(['int8', expect.stringMatching(/^[34]\.\d+ MB$/), 'ready', 'Delete']);
  });

  it('with too little storage another install does not start, and says why', async () => {
    const usage = await options.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
    const cdp = await browser.context.newCDPSession(options);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: `chrome-extension://${browser.extensionId}`, quotaSize: usage + 1_000_000 });
    expect(await options.evaluate(async () => (await navigator.storage.estimate()).quota)).toBe(usage + 1_000_000);

    const before = hub.log.length;
    const answer = (await send(options, { target: 'background', type: 'install-model', id: 'q', repo: OTHER_REPO, revision: 'main', format: 'f32' })) as { value: InstallState };
    expect(answer.value.phase).toBe('prepare');
    const alert = options.getByRole('alert').filter({ hasText: 'Not enough storage' });
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.innerText()).toMatch(/this needs about \d+\.\d+ MB but only \d+(\.\d+)? (KB|MB) is free for this extension\. Free disk space or delete a stored model/);
    // Nothing was downloaded (the size probes ask for one byte) and nothing of it stored.
    expect(hub.log.slice(before).filter((r) => r.path.startsWith('/cdn/') && r.range !== 'bytes=0-0').length).toBe(0);
    const listed = (await send(options, { target: 'background', type: 'list-models', id: 'l' })) as { value: { installed: { id: string; status: string }[] } };
    expect(listed.value.installed.find((m) => m.id === OTHER_REPO)?.status).not.toBe('complete');
  });

  it(
    'the stored model loads and generates from the popup under that quota: the image the Node engine makes (within 1/255)',
    async () => {
      const popup = await browser.open('popup.html');
      await popup.setViewportSize({ width: 600, height: 600 });
      const model = popup.getByLabel('Model');
      // The newest stored model is the one the popup opens with; the built-in one is offered too.
      await expect.poll(() => model.inputValue(), { timeout: 120_000 }).toBe('local/model');
      expect(await model.locator('option').allInnerTexts()).toEqual(['Tiny SD 1 (built-in test model)', 'model (int8)', 'tiny-sd1 (f32)']);
      await model.selectOption(REPO);
      await popup.getByLabel('Prompt', { exact: true }).fill(SETTINGS.prompt);
      await popup.getByLabel('Width').selectOption(String(SETTINGS.width));
      await popup.getByLabel('Height').selectOption(String(SETTINGS.height));
      await popup.getByLabel('Steps').fill(String(SETTINGS.steps));
      await popup.getByLabel('Guidance').fill(String(SETTINGS.guidance));
      await popup.getByLabel('Scheduler').selectOption(SETTINGS.scheduler);
      await popup.getByLabel('Seed').fill(String(SETTINGS.seed));
      const generate = popup.getByRole('button', { name: 'Generate' });
      await expect.poll(() => generate.isEnabled(), { timeout: 120_000 }).toBe(true);
      await generate.click();
      const image = popup.getByRole('img', { name: /^Generated image/ });
      await image.or(popup.locator('.job [role=alert]')).first().waitFor({ timeout: GENERATION_TIMEOUT });
      const job = ((await send(popup, { target: 'background', type: 'job-state', id: 'j' })) as { value: JobState }).value;
      expect(job).toMatchObject({ status: 'done', model: REPO, settings: SETTINGS });
      console.log(`stored model in the extension: load ${job.result!.timings.load?.toFixed(0)} ms, total ${job.result!.timings.total?.toFixed(0)} ms`);

      const png = decodeImagePng(dataUrlBytes(job.result!.image));
      expect(png.parameters?.model).toBe(REPO);
      const got = toRgb8(png.rgb);
      await popup.close();
      const want = toRgb8(await nodeImage());
      const maxDiff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);
      console.log(`popup (stored model) vs Node engine (model folder): max difference ${maxDiff}/255 over ${got.length} values`);
      expect(maxDiff).toBeLessThanOrEqual(1);
    },
    GENERATION_TIMEOUT,
  );

  it(
    'the chunks the browser stored reproduce the reference pipeline (fixture case 3) in Node',
    async () => {
      expect(records, 'the install did not finish').toBeDefined();
      const { image, chunks, chunkReads } = await runStoredCopy();
      // Every chunk was read and its hash checked against the one the browser recorded.
      expect(chunkReads).toBeGreaterThanOrEqual(chunks);
      expectClose(image, tensor(cases.pipeline[3]!.image), IMAGE_TOL, 'image from the stored model');
    },
    GENERATION_TIMEOUT,
  );
});
