/**
 * The service worker: keeps the offscreen document (which holds the GPU and runs the jobs) alive on demand, passes
 * requests from the popup and options page on to it, and shows a running job's progress on the toolbar badge. It
 * holds no state a worker restart would lose: the jobs live in the offscreen document, and each job update carries
 * everything the badge needs.
 */
import { browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { forward, onEvent, serve } from '../lib/messaging';
import { isActive, type JobState } from '../lib/messages';

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

/** The percentage done while a job runs (the badge has room for four characters), nothing otherwise. */
function badgeText(job: JobState): string {
  return isActive(job) ? `${Math.floor((100 * job.progress.done) / job.progress.total)}%` : '';
}

export default defineBackground(() => {
  serve('background', async (request) => {
    await ensureOffscreenDocument();
    return forward({ ...request, target: 'offscreen' });
  });
  onEvent(({ job }) => {
    void browser.action.setBadgeText({ text: badgeText(job) });
  });
});
