/**
 * The service worker: keeps the job queue (persisted in `storage.session`, so a stopped worker loses nothing), hands
 * its jobs one at a time to the offscreen document (which holds the GPU, created on demand), passes the pages' other
 * requests on to it, shows the running job's progress on the toolbar badge, offers "Generate image from “…”" on
 * selected text, and notifies when a job started from that menu ends.
 *
 * `generateFromSelection` and `openNotification` — what the context menu and a notification click call — are also
 * on the worker's global scope, for tests: Playwright cannot click native menus or notifications.
 */
import { browser, type Browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { JobQueue, RUNNER_PORT } from '../lib/job-queue';
import { forward, onEvent, publish, serve } from '../lib/messaging';
import { MessageError, RemoteError, resultResponse, type JobState, type RequestOf, type RequestType, type Results } from '../lib/messages';
import { chooseModel } from '../lib/model-choice';
import { settingsFromSelection } from '../lib/selection-job';
import { openStore } from '../storage/db';
import { loadInstallRecords, resumesOnStart } from '../storage/install-records';
import { loadPreferences } from '../storage/preferences';

const OFFSCREEN_PATH = '/offscreen.html';
const MENU_ID = 'generate-from-selection';
const QUEUE_KEY = 'jobQueue';
/** Notification ids: a finished menu job's names its gallery item, so a click opens it. */
const GALLERY_NOTIFICATION = /^gallery-(\d+)$/;

let creating: Promise<void> | undefined;

async function offscreenExists(): Promise<boolean> {
  const url = browser.runtime.getURL(OFFSCREEN_PATH);
  return (await browser.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'], documentUrls: [url] })).length > 0;
}

async function ensureOffscreenDocument(): Promise<void> {
  // Requests arriving together share one check-and-create: the second createDocument would fail, and a document
  // that exists but is still loading (getContexts lists it before createDocument resolves) has no listener yet.
  creating ??= (async () => {
    if (await offscreenExists()) return;
    await browser.offscreen.createDocument({
      url: OFFSCREEN_PATH,
      reasons: ['WORKERS'],
      justification: 'Runs the on-device WebGPU image generation engine, which needs a document that outlives the popup.',
    });
  })().finally(() => {
    creating = undefined;
  });
  await creating;
}

/** Asks the offscreen document (creating it when needed); rejects with the error it answered with. */
async function askOffscreen<T extends RequestType>(type: T, payload: Omit<RequestOf<T>, 'target' | 'type' | 'id'>): Promise<Results[T]> {
  await ensureOffscreenDocument();
  const response = await forward({ ...payload, target: 'offscreen', type, id: crypto.randomUUID() } as RequestOf<T>);
  if (response.type === 'error') throw new RemoteError(response);
  return response.value;
}

/** The percentage done while a job runs (the badge has room for four characters), nothing otherwise. */
function badgeText(jobs: readonly JobState[]): string {
  const job = jobs.find((j) => j.status === 'running' || j.status === 'cancelling');
  return job ? `${Math.floor((100 * job.progress.done) / job.progress.total)}%` : '';
}

function notifyFinished(job: JobState): void {
  if (job.source !== 'menu' || job.status === 'cancelled') return;
  const iconUrl = browser.runtime.getURL('/icon/128.png');
  if (job.status === 'done') {
    const { gallery, image } = job.result!;
    const cut = job.cutChars > 0 ? ` The selection was cut to its first ${job.settings.prompt.length} characters.` : '';
    void browser.notifications.create('id' in gallery ? `gallery-${gallery.id}` : `job-${job.jobId}`, {
      type: 'basic',
      iconUrl: image,
      title: 'Your image is ready',
      // Plain text: notifications render no markup, and the prompt is the page's selected text.
      message: job.settings.prompt.slice(0, 200),
      contextMessage: `Click to open it.${cut}`,
    });
  } else {
    void browser.notifications.create(`job-${job.jobId}`, {
      type: 'basic',
      iconUrl,
      title: 'The image could not be made',
      message: job.error?.message ?? 'The generation failed.',
    });
  }
}

const queue = new JobQueue(
  {
    async load() {
      const stored = (await browser.storage.session.get(QUEUE_KEY))[QUEUE_KEY];
      return Array.isArray(stored) ? (stored as JobState[]) : undefined;
    },
    save: (jobs) => browser.storage.session.set({ [QUEUE_KEY]: jobs }),
  },
  {
    async state() {
      if (!(await offscreenExists())) return null;
      // A document that does not answer yet has not started any job.
      return askOffscreen('runner-state', {}).catch(() => ({ running: null, finished: null }));
    },
    async start(job) {
      await askOffscreen('run-job', { job });
    },
    async cancel(jobId) {
      if (!(await offscreenExists())) return false;
      return (await askOffscreen('cancel', { jobId })).cancelled;
    },
  },
  {
    publish: (job) => publish({ target: 'broadcast', type: 'job-update', job }),
    saved: (jobs) => void browser.action.setBadgeText({ text: badgeText(jobs) }),
    finished: notifyFinished,
  },
);

/**
 * What the context menu item calls: queues a job on the selected text with the model the popup would open with (the
 * preferred one, else the newest installed, else the built-in one) and the user's default settings.
 */
export async function generateFromSelection(info: Browser.contextMenus.OnClickData): Promise<JobState | undefined> {
  if (info.menuItemId !== MENU_ID || !info.selectionText) return undefined;
  const db = await openStore();
  const preferences = await loadPreferences(db).finally(() => db.close());
  const model = await askOffscreen('model-info', { model: chooseModel(await askOffscreen('list-models', {}), preferences) });
  const job = settingsFromSelection(info.selectionText, model, preferences.defaults);
  return job && queue.add(job.settings, 'menu', job.cutChars);
}

/**
 * Installs that were running when the browser closed (or the offscreen document crashed) resume by themselves: the
 * offscreen document resumes them when it starts (entrypoints/offscreen/models.ts), and the worker, whenever it
 * starts, starts the document when there is one to resume and it is not there.
 */
async function resumeInterruptedInstalls(): Promise<void> {
  const db = await openStore();
  const records = await loadInstallRecords(db).finally(() => db.close());
  if (records.some(resumesOnStart)) await ensureOffscreenDocument();
}

/** What a notification click calls: opens the image it announced (or the popup's page) in a tab. */
export async function openNotification(notificationId: string): Promise<void> {
  const item = GALLERY_NOTIFICATION.exec(notificationId)?.[1];
  await browser.tabs.create({ url: browser.runtime.getURL(item ? `/popup.html?item=${item}` : '/popup.html') });
  await browser.notifications.clear(notificationId);
}

export default defineBackground(() => {
  Object.assign(globalThis, { generateFromSelection, openNotification });

  browser.runtime.onInstalled.addListener(() => {
    browser.contextMenus.create({ id: MENU_ID, title: 'Generate image from “%s”', contexts: ['selection'] });
  });
  browser.contextMenus.onClicked.addListener((info) => {
    generateFromSelection(info).catch((error: unknown) => {
      void browser.notifications.create({
        type: 'basic',
        iconUrl: browser.runtime.getURL('/icon/128.png'),
        title: 'The image could not be started',
        message: (error as Error).message,
      });
    });
  });
  browser.notifications.onClicked.addListener((id) => void openNotification(id));
  // Chrome starts the worker when the browser starts only for a listener of onStartup; the worker's start does the rest.
  browser.runtime.onStartup.addListener(() => undefined);

  serve('background', async (request) => {
    switch (request.type) {
      case 'generate':
        return resultResponse(request, await queue.add(request.settings, 'popup'));
      case 'cancel':
        return resultResponse(request, { cancelled: await queue.cancel(request.jobId) });
      case 'dismiss-job':
        return resultResponse(request, { dismissed: await queue.dismiss(request.jobId) });
      case 'job-state':
        return resultResponse(request, await queue.current());
      case 'jobs':
        return resultResponse(request, await queue.list());
      case 'run-job':
      case 'runner-state':
        throw new MessageError(`${request.type} requests are the queue's to send`);
      default:
        // The engine's and the model store's requests are the offscreen document's to answer.
        await ensureOffscreenDocument();
        return forward({ ...request, target: 'offscreen' });
    }
  });
  // The runner's updates of the job it runs.
  onEvent((event) => {
    if (event.type === 'job-update') void queue.update(event.job);
  });
  // The runner holds this connection while a job runs: its end means the job ended or the document is gone.
  browser.runtime.onConnect.addListener((port) => {
    if (port.name === RUNNER_PORT) port.onDisconnect.addListener(() => void queue.check());
  });
  // Whatever happened while the worker was stopped: a job the runner lost fails, the next one starts.
  void queue.check();
  // A store that cannot be read resumes nothing: the options page offers Resume.
  resumeInterruptedInstalls().catch(() => undefined);
});
