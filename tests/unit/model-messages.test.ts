/** The model store's requests and events in the message protocol: what is accepted and what is refused. */
import { describe, expect, it } from 'vitest';
import { MessageError, parseEvent, parseRequest, settingsProblem } from '../../lib/messages';
import type { InstallState } from '../../lib/model-messages';

const base = { target: 'offscreen', id: 'r' };
const install: InstallState = {
  modelId: 'owner/model',
  repo: 'owner/model',
  revision: 'main',
  format: 'f16',
  phase: 'download',
  file: 'unet/diffusion_pytorch_model.fp16.safetensors',
  bytes: 10,
  total: 100,
  rate: 5,
  etaSeconds: 18,
  error: null,
  updatedAt: 1,
};

describe('model store messages', () => {
  it('parses install, cancel, delete, list and model-info requests', () => {
    expect(parseRequest({ ...base, type: 'install-model', repo: ' stabilityai/sd-turbo ', revision: 'main', format: 'int8' })).toEqual({
      ...base,
      type: 'install-model',
      repo: 'stabilityai/sd-turbo',
      revision: 'main',
      format: 'int8',
    });
    expect(parseRequest({ ...base, type: 'cancel-install', modelId: 'owner/model' })).toMatchObject({ modelId: 'owner/model' });
    expect(parseRequest({ ...base, type: 'delete-model', modelId: 'local/my-model' })).toMatchObject({ modelId: 'local/my-model' });
    expect(parseRequest({ ...base, type: 'list-models' })).toEqual({ ...base, type: 'list-models' });
    expect(parseRequest({ ...base, type: 'model-info' })).toEqual({ ...base, type: 'model-info' });
    expect(parseRequest({ ...base, type: 'model-info', model: 'tiny-sd1' })).toMatchObject({ model: 'tiny-sd1' });
  });

  it('refuses malformed ones', () => {
    const bad = [
      { type: 'install-model', repo: 'no-slash', revision: 'main', format: 'f16' },
      { type: 'install-model', repo: 'a/b/c', revision: 'main', format: 'f16' },
      { type: 'install-model', repo: 'owner/model', revision: '../x', format: 'f16' },
      { type: 'install-model', repo: 'owner/model', revision: 'main', format: 'f8' },
      { type: 'install-model', repo: 'owner/model', revision: 'main', format: 'f16', extra: 1 },
      { type: 'delete-model', modelId: '' },
      { type: 'delete-model', modelId: 'has space' },
      { type: 'cancel-install' },
      { type: 'model-info', model: 42 },
    ];
    for (const message of bad) expect(() => parseRequest({ ...base, ...message }), JSON.stringify(message)).toThrow(MessageError);
  });

  it('generation settings name a model', () => {
    const settings = { prompt: 'p', negativePrompt: '', steps: 1, guidance: 0, width: 64, height: 64, seed: null, scheduler: 'euler' };
    expect(settingsProblem({ ...settings, model: 'owner/model' })).toBeUndefined();
    expect(settingsProblem(settings)).toBe('choose a model');
    expect(settingsProblem({ ...settings, model: '' })).toBe('choose a model');
  });

  it('checks install-update events', () => {
    expect(parseEvent({ target: 'broadcast', type: 'install-update', install })).toEqual({ target: 'broadcast', type: 'install-update', install });
    expect(() => parseEvent({ target: 'broadcast', type: 'install-update', install: { ...install, phase: 'failed' } })).toThrow(MessageError);
    expect(() => parseEvent({ target: 'broadcast', type: 'install-update', install: { ...install, bytes: -1 } })).toThrow(MessageError);
    const failed = { ...install, phase: 'failed', error: { name: 'InsufficientStorageError', message: 'Not enough storage' } };
    expect(parseEvent({ target: 'broadcast', type: 'install-update', install: failed })).toMatchObject({ install: failed });
  });
});
