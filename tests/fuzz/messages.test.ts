/**
 * Fuzzing the message validator (lib/messages.ts), the one gate between the extension's contexts: every request,
 * event and response type, valid and then mutated (fields dropped, replaced by random JSON, added, nested values
 * changed; whole messages replaced by random JSON), each passed through JSON as `runtime.sendMessage` does. A message
 * is accepted only if it re-validates from what the parser returned; anything else must be a MessageError with a
 * message. Senders are fuzzed too: only this extension's own pages are accepted.
 */
import { describe, expect, it } from 'vitest';
import {
  isFromThisExtension,
  MessageError,
  parseEvent,
  parseRequest,
  parseResponse,
  settingsProblem,
  type GenerationSettings,
  type JobState,
  type RequestMessage,
  type RequestType,
} from '../../lib/messages';
import type { InstallState } from '../../lib/model-messages';
import { expectNamedOutcome, Fuzz, slowest, tally } from './fuzz';

export const MESSAGE_CASES = 6000;
export const SENDER_CASES = 2000;

const PNG = 'data:image/png;base64,iVBORw0KGgo=';

const settings: GenerationSettings = { prompt: 'a red fox', negativePrompt: '', steps: 4, guidance: 7.5, width: 64, height: 64, seed: 42, scheduler: 'euler', model: 'tiny-sd1' };

const install: InstallState = {
  modelId: 'stabilityai/sd-turbo',
  repo: 'stabilityai/sd-turbo',
  revision: 'main',
  format: 'f16',
  phase: 'download',
  file: 'unet/diffusion_pytorch_model.fp16.safetensors',
  bytes: 1000,
  total: 2000,
  rate: 500,
  etaSeconds: 2,
  error: null,
  updatedAt: 3,
};

function job(status: JobState['status']): JobState {
  return {
    jobId: 'job-1',
    createdAt: 1,
    version: 3,
    status,
    source: 'menu',
    cutChars: 0,
    settings,
    seed: 42,
    model: 'tiny-sd1',
    progress: { stage: 'denoise', step: 2, steps: 4, done: 3, total: 6 },
    preview: status === 'queued' ? null : PNG,
    etaMs: status === 'running' ? 1200 : null,
    updatedAt: 2,
    result: status === 'done' ? { image: PNG, width: 64, height: 64, truncated: { prompt: 3, negativePrompt: 0 }, cutText: { prompt: 'on the moon', negativePrompt: '' }, timings: { total: 10 }, gallery: { id: 3 } } : null,
    error: status === 'failed' ? { name: 'DeviceLostError', message: 'The GPU device was lost.' } : null,
  };
}

const REQUESTS: RequestMessage[] = [
  { target: 'background', type: 'engine-status', id: 'r1' },
  { target: 'offscreen', type: 'model-info', id: 'r2' },
  { target: 'background', type: 'generate', id: 'r3', settings },
  { target: 'background', type: 'generate', id: 'r4', settings: { ...settings, seed: null, scheduler: 'dpm++2m', negativePrompt: 'blurry' } },
  { target: 'offscreen', type: 'cancel', id: 'r5', jobId: 'job-1' },
  { target: 'background', type: 'job-state', id: 'r6' },
  { target: 'background', type: 'run-tuner', id: 'r7', budgetSeconds: 120 },
  { target: 'offscreen', type: 'tuner-state', id: 'r8' },
  { target: 'background', type: 'generate', id: 'r9', settings: { ...settings, startImage: { galleryId: 3, strength: 0.5 } } },
  { target: 'background', type: 'generate', id: 'r20', settings: { ...settings, startImage: { galleryId: 3, strength: 1, mask: PNG } } },
  { target: 'background', type: 'jobs', id: 'r10' },
  { target: 'offscreen', type: 'run-job', id: 'r11', job: job('running') },
  { target: 'offscreen', type: 'runner-state', id: 'r12' },
  { target: 'offscreen', type: 'model-info', id: 'r13', model: 'stabilityai/sd-turbo' },
  { target: 'background', type: 'list-models', id: 'r14' },
  { target: 'background', type: 'install-model', id: 'r15', repo: 'stabilityai/sd-turbo', revision: 'main', format: 'int8' },
  { target: 'background', type: 'cancel-install', id: 'r16', modelId: 'stabilityai/sd-turbo' },
  { target: 'background', type: 'delete-model', id: 'r17', modelId: 'local/my-model' },
  { target: 'background', type: 'dismiss-job', id: 'r18', jobId: 'job-1' },
  { target: 'background', type: 'open-import', id: 'r19' },
];

const tunerRow = { op: 'gemm', shape: 'GEMM 128×32×96', default: 'tile 64×64×16', chosen: 'tile 32×32×32', defaultMs: 87, ms: 20 };
const tuner = { status: 'running', done: 3, total: 74, current: 'GEMM 128×32×96', elapsedMs: 5000, budgetMs: 120000, updated: '2026-11-26T05:00:00Z', rows: [tunerRow], error: null };

const RESULTS: { [T in RequestType]: unknown[] } = {
  'engine-status': [
    {
      adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: '', features: { shaderF16: false, subgroups: true, timestampQuery: true }, limits: { maxBufferSize: 2 ** 30 } },
      adapterName: 'google swiftshader',
      selfCheck: { passed: true, relativeError: 0 },
    },
  ],
  'model-info': [{ id: 'tiny-sd1', name: 'Tiny', width: 64, height: 64, sizes: [64, 128], defaultScheduler: 'pndm' }],
  generate: [job('queued')],
  cancel: [{ cancelled: true }],
  'dismiss-job': [{ dismissed: true }, { dismissed: false }],
  'job-state': [null, job('running'), job('done'), job('failed'), job('cancelled')],
  'run-tuner': [tuner],
  'tuner-state': [tuner, { ...tuner, status: 'idle', done: 0, total: 0, current: null, updated: null, rows: [] }, { ...tuner, status: 'failed', error: { name: 'DeviceLostError', message: 'lost' } }],
  jobs: [[], [job('done'), job('queued')]],
  'run-job': [{ accepted: true }],
  'runner-state': [{ running: null, finished: null }, { running: job('running'), finished: job('failed') }],
  'list-models': [
    {
      builtin: { id: 'tiny-sd1', name: 'Tiny' },
      installed: [{ id: 'stabilityai/sd-turbo', name: 'SD-Turbo', repo: 'stabilityai/sd-turbo', revision: 'main', format: 'f16', status: 'complete', bytes: 2e9, createdAt: 5 }],
      catalog: [{ id: 'a/b', name: 'B', repo: 'a/b', revision: 'main', description: 'd', bytes: null, license: 'l', steps: 1, guidance: 0 }],
      installs: [install],
      storage: { used: 2e9, usage: 2.1e9, quota: 1e11, persisted: true },
    },
  ],
  'install-model': [
    install,
    { ...install, phase: 'failed', error: { name: 'InsufficientStorageError', message: 'Not enough storage' } },
    // An import from disk, as its install-update events carry it.
    { ...install, modelId: 'local/my-model', repo: null, revision: null, phase: 'import', file: 'unet/diffusion_pytorch_model.safetensors', rate: 0, etaSeconds: null },
  ],
  'cancel-install': [{ cancelled: false }],
  'delete-model': [{ deleted: true }],
  'open-import': [{ channel: 'local-diffusion-import' }],
};

type Kind = 'request' | 'event' | 'response';

/** A valid message of a random kind, with the request a response answers. */
function valid(fuzz: Fuzz): { kind: Kind; message: unknown; request: RequestMessage } {
  const request = fuzz.pick(REQUESTS);
  switch (fuzz.int(3)) {
    case 0:
      return { kind: 'request', message: request, request };
    case 1:
      return fuzz.chance(0.8)
        ? { kind: 'event', message: { target: 'broadcast', type: 'job-update', job: job(fuzz.pick(['queued', 'running', 'cancelling', 'done', 'cancelled', 'failed'])) }, request }
        : { kind: 'event', message: { target: 'broadcast', type: 'install-update', install: fuzz.pick(RESULTS['install-model']) }, request };
    default:
      return fuzz.chance(0.8)
        ? { kind: 'response', message: { type: 'result', id: request.id, value: fuzz.pick(RESULTS[request.type]) }, request }
        : { kind: 'response', message: { type: 'error', id: request.id, name: 'InvalidParameterError', message: 'The width must be …' }, request };
  }
}

/** A path to a random nested value of `value` (objects and arrays), [] for the value itself. */
function randomPath(fuzz: Fuzz, value: unknown): (string | number)[] {
  const path: (string | number)[] = [];
  let at = value;
  while (typeof at === 'object' && at !== null && fuzz.chance(0.7)) {
    const keys = Object.keys(at);
    if (keys.length === 0) break;
    const key = fuzz.pick(keys);
    path.push(Array.isArray(at) ? Number(key) : key);
    at = (at as Record<string, unknown>)[key];
  }
  return path;
}

function mutate(fuzz: Fuzz, message: unknown): unknown {
  if (fuzz.chance(0.1)) return fuzz.json(4);
  const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
  for (let n = 1 + fuzz.int(3); n > 0; n--) {
    const path = randomPath(fuzz, copy);
    if (path.length === 0) continue;
    let parent: Record<string | number, unknown> = copy;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const key = path.at(-1)!;
    switch (fuzz.int(4)) {
      case 0:
        delete parent[key];
        break;
      case 1:
        parent[key] = fuzz.json(2);
        break;
      case 2:
        Object.defineProperty(parent, fuzz.chance(0.5) ? fuzz.text(5) : fuzz.pick(['extra', '__proto__', 'constructor', 'toString']), { value: fuzz.json(1), enumerable: true, writable: true, configurable: true });
        break;
      default: {
        // Near-misses of numbers and strings: the boundaries of every limit.
        const v = parent[key];
        parent[key] =
          typeof v === 'number' ? fuzz.pick([v + 1, v - 1, -v, v + 0.5, v * 1e6, NaN, Infinity, 2 ** 53, `${v}`]) : typeof v === 'string' ? fuzz.pick(['', v + ' ', v.toUpperCase(), v.slice(0, 40).repeat(3000), `${v}\u0000`]) : fuzz.json(1);
      }
    }
  }
  return copy;
}

/** Parses `message` as its kind would be at the receiving end, after the JSON round trip sendMessage makes. */
function receive(kind: Kind, message: unknown, request: RequestMessage): unknown {
  const wire = message === undefined ? undefined : (JSON.parse(JSON.stringify(message) ?? 'null') as unknown);
  if (kind === 'request') {
    const parsed = parseRequest(wire);
    // What a parser accepts must be valid through and through: parsing its own output gives the same.
    expect(parseRequest(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
    if (parsed.type === 'generate') expect(settingsProblem(parsed.settings)).toBeUndefined();
    return parsed;
  }
  if (kind === 'event') {
    const parsed = parseEvent(wire);
    expect(parseEvent(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
    return parsed;
  }
  const parsed = parseResponse(wire, request);
  expect(parsed.id).toBe(request.id);
  expect(parseResponse(JSON.parse(JSON.stringify(parsed)), request)).toEqual(parsed);
  return parsed;
}

describe('fuzz: message validator', () => {
  it('accepts every valid message of every type', () => {
    for (const request of REQUESTS) expect(parseRequest(request)).toEqual(request);
    for (const status of ['queued', 'running', 'cancelling', 'done', 'cancelled', 'failed'] as const) {
      expect(parseEvent({ target: 'broadcast', type: 'job-update', job: job(status) })).toEqual({ target: 'broadcast', type: 'job-update', job: job(status) });
    }
    for (const request of REQUESTS) {
      for (const value of RESULTS[request.type]) expect(parseResponse({ type: 'result', id: request.id, value }, request)).toEqual({ type: 'result', id: request.id, value });
    }
  });

  it(`${MESSAGE_CASES} mutated and random messages: valid through and through, or a MessageError, each within 1 s`, async () => {
    const fuzz = new Fuzz(0x3e55);
    const outcomes: string[] = [];
    for (let i = 0; i < MESSAGE_CASES; i++) {
      const { kind, message, request } = valid(fuzz);
      const mutant = mutate(fuzz, message);
      outcomes.push(`${kind}:${await expectNamedOutcome(`case ${i} (${kind}) ${JSON.stringify(mutant)?.slice(0, 200)}`, () => receive(kind, mutant, request), [MessageError], 1000)}`);
    }
    const counts = tally(outcomes);
    console.log(`message fuzz, ${MESSAGE_CASES} cases:`, counts, `slowest ${slowest.ms.toFixed(0)} ms: ${slowest.label}`);
    for (const kind of ['request', 'event', 'response']) {
      expect(counts[`${kind}:ok`], kind).toBeGreaterThan(20);
      expect(counts[`${kind}:MessageError`], kind).toBeGreaterThan(MESSAGE_CASES / 6);
    }
  });

  it(`${SENDER_CASES} random senders: only this extension's own pages are accepted`, () => {
    const fuzz = new Fuzz(0x5e4d);
    const id = 'abcdefghijklmnopabcdefghijklmnop';
    const origin = `chrome-extension://${id}/`;
    let accepted = 0;
    for (let i = 0; i < SENDER_CASES; i++) {
      const sender = {
        ...(fuzz.chance(0.8) ? { id: fuzz.pick([id, id.toUpperCase(), `${id}x`, 'other', '', fuzz.text(8)]) } : {}),
        ...(fuzz.chance(0.8)
          ? { url: fuzz.pick([`${origin}popup.html`, `${origin}offscreen.html`, 'https://example.com/', `chrome-extension://${id}x/popup.html`, `chrome-extension://other/`, `https://evil.test/${origin}`, `${origin.slice(0, -1)}`, fuzz.text(20)]) }
          : {}),
      };
      const ok = isFromThisExtension(sender, id, origin);
      expect(ok, JSON.stringify(sender)).toBe(sender.id === id && typeof sender.url === 'string' && sender.url.startsWith(origin));
      if (ok) accepted++;
    }
    expect(accepted).toBeGreaterThan(SENDER_CASES / 100);
    // A content script of this extension runs inside a web page: its id is ours but its URL is the page's.
    expect(isFromThisExtension({ id, url: 'https://example.com/article' }, id, origin)).toBe(false);
    expect(isFromThisExtension({ id }, id, origin)).toBe(false);
  });
});
