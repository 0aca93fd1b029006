/**
 * The auto-tuner in the built extension (Chromium, WebGPU on SwiftShader): a `run-tuner` request from the options
 * page starts a run in the offscreen document, `tuner-state` follows it to the end, and another page sees the same
 * choices. (The IndexedDB round trip itself is tests/tune/cache.test.ts's.) A 10 s budget: the tuner stops after its
 * first op shapes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, WEBGPU_ARGS, type ExtensionBrowser } from '../../cli/chromium';
import type { TunerState } from '../../lib/messages';

interface Response {
  type: string;
  value?: TunerState;
  message?: string;
}

describe('auto-tuner in the extension', () => {
  let browser: ExtensionBrowser;
  beforeAll(async () => {
    browser = await launchWithExtension(WEBGPU_ARGS);
  });
  afterAll(() => browser?.close());

  it('runs from a run-tuner request, reports progress and stores its table', { timeout: 300_000 }, async () => {
    const page = await browser.open('options.html');
    let n = 0;
    const send = async (message: Record<string, unknown>): Promise<Response> =>
      (await page.evaluate(
        (m) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage(m),
        { target: 'background', id: `t${n++}`, ...message },
      )) as Response;
    const before = await send({ type: 'tuner-state' });
    expect(before).toMatchObject({ type: 'result', value: { status: 'idle', rows: [] } });
    expect(await send({ type: 'run-tuner', budgetSeconds: 5 })).toMatchObject({ type: 'error', name: 'MessageError' });
    const started = await send({ type: 'run-tuner', budgetSeconds: 10 });
    expect(started).toMatchObject({ type: 'result', value: { status: 'running', budgetMs: 10_000 } });
    let state = started.value!;
    while (state.status === 'running') {
      await new Promise((r) => setTimeout(r, 500));
      state = (await send({ type: 'tuner-state' })).value!;
    }
    expect(state.error).toBeNull();
    expect(state.status).toBe('done');
    expect(state.total).toBeGreaterThan(10);
    expect(state.rows.length).toBeGreaterThan(0);
    expect(state.rows.every((r) => r.ms <= r.defaultMs)).toBe(true);
    await page.close();

    // Another page gets the same choices.
    const again = await browser.open('options.html');
    const stored = (await again.evaluate(() =>
      (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage({
        target: 'background',
        type: 'tuner-state',
        id: 'again',
      }),
    )) as Response;
    expect(stored.value!.rows).toEqual(state.rows);
    await again.close();
  });
});
