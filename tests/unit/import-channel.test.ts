/**
 * The import channel (lib/import-messages.ts, lib/import-channel.ts): what its validator accepts and the named error
 * for what it does not, and the page's and the offscreen document's ends talking over a real `BroadcastChannel`
 * (Node's clones `Blob`s as Chromium's does) — accepted, refused with the handler's error, a malformed request
 * answered with a MessageError, and no answer at all.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IMPORT_LIMITS, ImportNotAcceptedError, parseImportMessage } from '../../lib/import-messages';
import { serveImports, startImport } from '../../lib/import-channel';
import { MessageError } from '../../lib/messages';
import type { InstallState } from '../../lib/model-messages';
import { ModelBusyError } from '../../storage/errors';

/**
 * The channel a test uses; the page's `open-import` request is answered with it, as the offscreen document would.
 * A new name per test: Node (20) refuses to post a Blob on a name whose earlier channels were all closed.
 */
let CHANNEL = '';
vi.mock('../../lib/messaging', () => ({ request: vi.fn(async () => ({ channel: CHANNEL })) }));

const file = (path: string, text = 'x') => ({ path, blob: new Blob([text]) });
const request = { type: 'import-folder', id: 'i1', format: 'int8', files: [file('m/unet/config.json', '{}')] };
const state: InstallState = {
  modelId: 'local/m',
  repo: null,
  revision: null,
  format: 'int8',
  phase: 'prepare',
  file: null,
  bytes: 0,
  total: 0,
  rate: 0,
  etaSeconds: null,
  error: null,
  updatedAt: 1,
};

describe('import messages', () => {
  it('accepts the three kinds, files as path and contents', () => {
    expect(parseImportMessage(request)).toEqual(request);
    expect(parseImportMessage({ type: 'import-accepted', id: 'i1', install: state })).toEqual({ type: 'import-accepted', id: 'i1', install: state });
    expect(parseImportMessage({ type: 'import-rejected', id: 'i1', name: 'ModelBusyError', message: 'm' })).toEqual({ type: 'import-rejected', id: 'i1', name: 'ModelBusyError', message: 'm' });
  });

  it('rejects anything else with a MessageError saying what is wrong', () => {
    const bad: [unknown, RegExp][] = [
      [null, /import message object/],
      [{ ...request, type: 'import-everything' }, /unknown import message type/],
      [{ ...request, id: '' }, /valid id/],
      [{ ...request, id: 'x'.repeat(IMPORT_LIMITS.idChars + 1) }, /valid id/],
      [{ ...request, format: 'f8' }, /weight format/],
      [{ ...request, files: [] }, /without files/],
      [{ ...request, files: Array.from({ length: IMPORT_LIMITS.files + 1 }, (_, i) => file(`f${i}`)) }, /more than/],
      [{ ...request, files: [{ path: 'a', blob: 'not a blob' }] }, /file 0 \(a\) has no contents/],
      [{ ...request, files: [{ path: 'a\nb', blob: new Blob([]) }] }, /no valid path/],
      [{ ...request, files: [{ path: 'a', blob: new Blob([]), extra: 1 }] }, /not a path and its contents/],
      [{ ...request, extra: true }, /unexpected fields: extra/],
      // An accepted import is one from disk: a hub install's state is not an answer to it.
      [{ type: 'import-accepted', id: 'i1', install: { ...state, repo: 'a/b', revision: 'main' } }, /valid import state/],
      [{ type: 'import-rejected', id: 'i1', name: '', message: 'm' }, /malformed/],
    ];
    for (const [message, why] of bad) expect(() => parseImportMessage(message), JSON.stringify(message)).toThrow(why);
    for (const [message] of bad) expect(() => parseImportMessage(message)).toThrow(MessageError);
  });
});

describe('the import channel', () => {
  let stop: (() => void) | undefined;
  beforeEach(() => {
    CHANNEL = `import-channel-test-${crypto.randomUUID()}`;
  });
  afterEach(() => {
    stop?.();
    stop = undefined;
  });

  it('hands the files over, readable at the other end, and resolves with the import’s first state', async () => {
    const received: string[] = [];
    stop = serveImports(CHANNEL, (r) => {
      void Promise.all(r.files.map(async (f) => `${f.path}=${await f.blob.text()}`)).then((texts) => received.push(...texts));
      return { ...state, format: r.format };
    });
    expect(await startImport([file('m/unet/config.json', '{"a":1}'), file('m/vae/config.json', '{}')], 'f16')).toEqual({ ...state, format: 'f16' });
    await expect.poll(() => received).toEqual(['m/unet/config.json={"a":1}', 'm/vae/config.json={}']);
  });

  it('rejects with the error that kept the import from starting, by name', async () => {
    stop = serveImports(CHANNEL, () => {
      throw new ModelBusyError('local/m');
    });
    await expect(startImport([file('m/unet/config.json')], 'int8')).rejects.toMatchObject({ name: 'ModelBusyError', message: expect.stringContaining('local/m') });
  });

  it('answers a malformed request with a MessageError and does not start it', async () => {
    const start = vi.fn(() => state);
    stop = serveImports(CHANNEL, start);
    const page = new BroadcastChannel(CHANNEL);
    const reply = new Promise<unknown>((resolve) => (page.onmessage = (e: MessageEvent<unknown>) => resolve(e.data)));
    page.postMessage({ ...request, files: [{ path: 'm/unet/config.json', blob: 'JSON, not a file' }] });
    expect(parseImportMessage(await reply)).toMatchObject({ type: 'import-rejected', id: 'i1', name: 'MessageError', message: expect.stringContaining('has no contents') });
    page.close();
    expect(start).not.toHaveBeenCalled();
  });

  it('says so when nobody takes the import in time', async () => {
    await expect(startImport([file('m/unet/config.json')], 'int8', 200)).rejects.toBeInstanceOf(ImportNotAcceptedError);
  });
});
