/**
 * Input validation at the message boundary: every generation setting out of range is refused with a sentence a user
 * understands (shown in the popup as is), malformed and unknown messages are refused as MessageError, and a job
 * result must say what a long prompt lost. The engine's own checks of the same settings are in
 * tests/models/validation.test.ts; random and mutated messages in tests/fuzz/messages.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS, MessageError, parseRequest, settingsProblem, type GenerationSettings } from '../../lib/messages';

const good: GenerationSettings = { prompt: 'a red fox', negativePrompt: '', steps: 20, guidance: 7.5, width: 512, height: 512, seed: null, scheduler: 'euler', model: 'tiny-sd1' };

describe('settings validation', () => {
  it('accepts the limits themselves', () => {
    for (const patch of [
      { steps: LIMITS.steps.min },
      { steps: LIMITS.steps.max },
      { guidance: LIMITS.guidance.min },
      { guidance: LIMITS.guidance.max },
      { width: LIMITS.size.min, height: LIMITS.size.max },
      { width: 520 },
      { seed: 0 },
      { seed: Number.MAX_SAFE_INTEGER },
      { prompt: 'x'.repeat(LIMITS.promptChars) },
      { scheduler: 'dpm++2m' },
      // A 1×1 grey PNG mask.
      { startImage: { galleryId: 1, strength: 0.5, mask: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==' } },
      { emphasis: true },
      { emphasis: false },
    ]) {
      expect(settingsProblem({ ...good, ...patch }), JSON.stringify(patch)).toBeUndefined();
    }
  });

  it.each([
    [{ prompt: '' }, 'describe the image in the prompt'],
    [{ prompt: ' \n\t' }, 'describe the image in the prompt'],
    [{ prompt: 'x'.repeat(LIMITS.promptChars + 1) }, 'the prompt can be at most 2000 characters'],
    [{ negativePrompt: 'x'.repeat(LIMITS.promptChars + 1) }, 'the negative prompt can be at most 2000 characters'],
    [{ prompt: 42 }, 'the prompt must be text'],
    [{ steps: 0 }, 'steps must be a whole number from 1 to 150'],
    [{ steps: 151 }, 'steps must be a whole number from 1 to 150'],
    [{ steps: 2.5 }, 'steps must be a whole number from 1 to 150'],
    [{ steps: '20' }, 'steps must be a whole number from 1 to 150'],
    [{ guidance: -0.5 }, 'guidance must be a number from 0 to 30'],
    [{ guidance: 31 }, 'guidance must be a number from 0 to 30'],
    [{ guidance: null }, 'guidance must be a number from 0 to 30'],
    [{ width: 100 }, 'the width must be a multiple of 8 from 64 to 2048 pixels'],
    [{ width: 56 }, 'the width must be a multiple of 8 from 64 to 2048 pixels'],
    [{ height: 2056 }, 'the height must be a multiple of 8 from 64 to 2048 pixels'],
    [{ seed: -1 }, 'the seed must be a whole number from 0 to 9007199254740991, or empty for a random one'],
    [{ seed: 2 ** 53 }, 'the seed must be a whole number from 0 to 9007199254740991, or empty for a random one'],
    [{ seed: 1.5 }, 'the seed must be a whole number from 0 to 9007199254740991, or empty for a random one'],
    [{ scheduler: 'k_lms' }, 'the scheduler must be one of ddim, euler, euler-a, dpm++2m, pndm, lcm'],
    [{ model: 'no such/model id' }, 'choose a model'],
    [{ startImage: { galleryId: 1, strength: 0.5, mask: 'data:image/jpeg;base64,AAAA' } }, 'the mask must be a PNG image (data:image/png;base64) of at most 1 MiB'],
    [{ startImage: { galleryId: 1, strength: 0.5, mask: 'data:image/png;base64,<script>' } }, 'the mask must be a PNG image (data:image/png;base64) of at most 1 MiB'],
    [{ startImage: { galleryId: 1, strength: 0.5, mask: `data:image/png;base64,${'A'.repeat(1024 * 1024)}` } }, 'the mask must be a PNG image (data:image/png;base64) of at most 1 MiB'],
    [{ startImage: { galleryId: 1, strength: 0.5, mask: [1, 0] } }, 'the mask must be a PNG image (data:image/png;base64) of at most 1 MiB'],
    [{ emphasis: 'yes' }, 'prompt weighting must be on or off'],
    [{ emphasis: null }, 'prompt weighting must be on or off'],
  ])('refuses %j: "%s"', (patch, message) => {
    expect(settingsProblem({ ...good, ...patch })).toBe(message);
    // The same sentence reaches the popup as the answer to the request.
    expect(() => parseRequest({ target: 'background', type: 'generate', id: 'r', settings: { ...good, ...patch } })).toThrow(new MessageError(`generate request: ${message}`));
  });

  it('refuses malformed and unknown messages with MessageError', () => {
    const cases: [unknown, RegExp][] = [
      [null, /expected a request object, got null/],
      ['generate', /expected a request object/],
      [{ type: 'generate', settings: good }, /request without an id/],
      [{ id: 'r', type: 'eval', code: 'alert(1)' }, /unknown request type "eval"/],
      [{ id: 'r', type: 'cancel' }, /cancel request without a valid jobId/],
      [{ id: 'r', type: 'cancel', jobId: 'x'.repeat(101) }, /cancel request without a valid jobId/],
      [{ id: 'r', type: 'dismiss-job', jobId: '' }, /dismiss-job request without a valid jobId/],
      [{ id: 'r', type: 'job-state', extra: 1 }, /job-state request with unexpected fields: extra/],
      [{ id: 'r', type: 'generate' }, /the settings are missing/],
    ];
    for (const [message, error] of cases) expect(() => parseRequest(message), JSON.stringify(message)).toThrow(error);
  });
});
