/**
 * The offscreen document: the one place that holds the GPU device and the loaded model. It answers the requests the
 * background forwards to it, imports the model folders the options page hands it (lib/import-channel.ts), and runs
 * the generation jobs the background's queue hands it, one at a time, publishing their progress to every page. While
 * a job runs it holds a connection to the background, whose dropping tells the queue that this document is gone
 * (closed or crashed).
 */
import { browser } from 'wxt/browser';
import { IMPORT_CHANNEL, serveImports } from '../../lib/import-channel';
import { RUNNER_PORT } from '../../lib/job-queue';
import { resultResponse } from '../../lib/messages';
import { publish, serve } from '../../lib/messaging';
import { loadPreferences } from '../../storage/preferences';
import { Engine } from './engine';
import { keepInGallery, loadMask, loadStartImage } from './gallery-io';
import { JobRunner } from './jobs';
import { Tuner } from './tuner';
import { ModelService } from './models';

const models = new ModelService(
  (install) => publish({ target: 'broadcast', type: 'install-update', install }),
  (modelId) => engine.release(modelId),
);
const engine = new Engine(models, async () => loadPreferences(await models.db()));
// Installs this document's predecessor was running when the browser closed (or it crashed) go on.
void models.restore();
// Model folders the options page hands over; listening before `serve` below, so that a page that got an answer to
// `open-import` finds the channel listened to.
serveImports(IMPORT_CHANNEL, (request) => models.importFromDisk(request.files, request.format));
/** How long to wait before connecting again: a worker that is starting up may not listen yet. */
const RECONNECT_MS = 500;


let port: ReturnType<typeof browser.runtime.connect> | undefined;
/** Connected while a job runs; a stopped service worker drops it, and connecting again wakes the worker up. */
function holdConnection(busy: boolean): void {
  if (!busy) {
    port?.disconnect();
    port = undefined;
    return;
  }
  // The next job may start before the last one let go: the connection held stays.
  if (port) return;
  const connection = browser.runtime.connect({ name: RUNNER_PORT });
  connection.onDisconnect.addListener(() => {
    if (port !== connection) return;
    setTimeout(() => {
      if (port !== connection) return;
      port = undefined;
      holdConnection(true);
    }, RECONNECT_MS);
  });
  port = connection;
}

const runner = new JobRunner(
  async (job, options) => {
    const { settings } = job;
    const startImage = settings.startImage ? await loadStartImage(settings.startImage.galleryId, settings.width, settings.height) : undefined;
    const mask = settings.startImage?.mask ? await loadMask(settings.startImage.mask, settings.width, settings.height) : undefined;
    const result = await engine.generate({ ...job, startImage, mask }, options);
    const gallery = await keepInGallery({ settings, seed: job.seed, model: settings.model, source: job.source, width: result.width, height: result.height }, result);
    return { ...result, gallery };
  },
  (job) => publish({ target: 'broadcast', type: 'job-update', job }),
  holdConnection,
);
const tuner = new Tuner({
  gpu: () => engine.gpu(),
  files: engine.files,
  size: () => engine.modelInfo(),
  // The open model is unloaded; the next job opens it with the new table.
  tuned: () => engine.release(),
});

serve('offscreen', async (request) => {
  switch (request.type) {
    case 'engine-status':
      return resultResponse(request, await engine.status());
    case 'model-info':
      return resultResponse(request, await engine.modelInfo(request.model));
    case 'run-job':
      runner.start(request.job);
      return resultResponse(request, { accepted: true });
    case 'runner-state':
      return resultResponse(request, runner.state());
    case 'cancel':
      return resultResponse(request, { cancelled: runner.cancel(request.jobId) });
    case 'run-tuner':
      return resultResponse(request, tuner.start(request.budgetSeconds));
    case 'tuner-state':
      return resultResponse(request, await tuner.current());
    case 'list-models':
      return resultResponse(request, await models.overview());
    case 'install-model':
      return resultResponse(request, models.install(request.repo, request.revision, request.format));
    case 'cancel-install':
      return resultResponse(request, { cancelled: models.cancel(request.modelId) });
    case 'delete-model':
      return resultResponse(request, { deleted: await models.delete(request.modelId) });
    case 'open-import':
      return resultResponse(request, { channel: IMPORT_CHANNEL });
    default:
      throw new Error(`${request.type} requests are the background's to answer`);
  }
});
