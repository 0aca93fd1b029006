/**
 * The service worker: keeps the offscreen document (which holds the GPU) alive on demand and passes requests from
 * the popup and options page on to it. It holds no state a worker restart would lose.
 */
import { browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { forward, serve } from '../lib/messaging';

const OFFSCREEN_PATH = '/offscreen.html';

let creating: Promise<void> | undefined;

async function ensureOffscreenDocument(): Promise<void> {
  const url = browser.runtime.getURL(OFFSCREEN_PATH);
  const existing = await browser.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'], documentUrls: [url] });
  if (existing.length > 0) return;
  // Two requests arriving together must not both create it: the second createDocument would fail.
  creating ??= browser.offscreen
    .createDocument({
      url: OFFSCREEN_PATH,
      reasons: ['WORKERS'],
      justification: 'Runs the on-device WebGPU image generation engine, which needs a document that outlives the popup.',
    })
    .finally(() => {
      creating = undefined;
    });
  await creating;
}

export default defineBackground(() => {
  serve('background', async (request) => {
    await ensureOffscreenDocument();
    return forward({ ...request, target: 'offscreen' });
  });
});
