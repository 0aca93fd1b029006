/**
 * The offscreen document: the one place that holds the GPU device and the loaded model. It answers the requests the
 * background forwards to it, runs generation jobs one at a time and publishes their progress to every page.
 */
import { BUILTIN_MODEL } from '../../lib/builtin-model';
import { resultResponse } from '../../lib/messages';
import { publish, serve } from '../../lib/messaging';
import { Engine } from './engine';
import { JobQueue } from './jobs';
import { Tuner } from './tuner';

const engine = new Engine();
const jobs = new JobQueue(
  (job, options) => engine.generate(job, options),
  (job) => publish({ target: 'broadcast', type: 'job-update', job }),
  BUILTIN_MODEL.id,
);
const tuner = new Tuner({
  gpu: () => engine.gpu(),
  files: engine.files,
  size: () => engine.modelInfo(),
  tuned: () => engine.reopenModel(),
});

serve('offscreen', async (request) => {
  switch (request.type) {
    case 'engine-status':
      return resultResponse(request, await engine.status());
    case 'model-info':
      return resultResponse(request, await engine.modelInfo());
    case 'generate':
      return resultResponse(request, jobs.add(request.settings));
    case 'cancel':
      return resultResponse(request, { cancelled: jobs.cancel(request.jobId) });
    case 'job-state':
      return resultResponse(request, jobs.current());
    case 'run-tuner':
      return resultResponse(request, tuner.start(request.budgetSeconds));
    case 'tuner-state':
      return resultResponse(request, await tuner.current());
  }
});
