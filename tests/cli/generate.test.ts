import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImagePng, encodeImagePng, toRgb8 } from '../../lib/png';
import { relativeError } from '../helpers/gpu';
import { cases, tensor, TINY, TINY_MODEL } from '../models/fixtures';

const run = promisify(execFile);

/** Runs `npm run generate -- …` as a user would; resolves with the exit code and output. */
async function generate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npx', ['vite-node', 'cli/generate.ts', '--', ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run generate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sd-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('rejects bad input with a clear message and a non-zero exit', async () => {
    const out = join(dir, 'x.png');
    await writeFile(join(dir, 'start.png'), encodeImagePng(new Float32Array(64 * 64 * 3), 64, 64));
    await writeFile(join(dir, 'mask.png'), encodeImagePng(new Float32Array(32 * 32 * 3), 32, 32));
    const checks: [string[], RegExp][] = [
      [['--prompt', 'a', '--out', out], /--model is required/],
      [['--model', TINY_MODEL, '--out', out], /--prompt is required/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--steps', 'many'], /--steps must be a number/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--weights', 'int3'], /--weights must be one of/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--scheduler', 'magic'], /--scheduler must be one of/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--width', '100'], /width must be a multiple of 8 pixels \(nearest: 96 or 104\)/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--bogus'], /Unknown option '--bogus'/],
      [['--model', dir, '--prompt', 'a', '--out', out], /is not a diffusers model folder/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--init-latents', join(dir, 'missing.bin')], /ENOENT|no such file/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--mask', join(dir, 'mask.png')], /--mask needs --init-image/],
      [['--model', TINY_MODEL, '--prompt', 'a', '--out', out, '--init-image', join(dir, 'start.png'), '--mask', join(dir, 'mask.png')], /--mask is 32×32; it must match the starting image \(64×64\)/],
    ];
    for (const [args, message] of checks) {
      const result = await generate(args);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr, args.join(' ')).toMatch(message);
    }
  }, 300_000);

  // Case 0 of the fixtures uses the model folder's own scheduler settings with DDIM: the command line must
  // reproduce it from the same starting latents.
  it('reproduces the reference pipeline from --init-latents, writing the PNG and --save-latents', async () => {
    const c = cases.pipeline[0]!;
    const init = join(dir, 'init.bin');
    const latents = join(dir, 'latents.bin');
    const out = join(dir, 'out.png');
    const initData = tensor(c.init_latents);
    await writeFile(init, new Uint8Array(initData.buffer));
    const result = await generate([
      '--model', TINY_MODEL, '--prompt', c.prompt, '--negative-prompt', c.negative_prompt ?? '', '--scheduler', 'ddim',
      '--steps', String(c.steps.length), '--guidance', String(c.guidance), '--width', String(c.width), '--height', String(c.height),
      '--seed', '7', '--init-latents', init, '--save-latents', latents, '--weights', 'f32', '--out', out,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/denoise/);
    expect(result.stdout).toMatch(/Seed 7, ddim, 4 UNet evaluations/);
    const saved = new Float32Array((await readFile(latents)).buffer.slice(0));
    expect(relativeError(saved, tensor(c.steps.at(-1)!.latents))).toBeLessThanOrEqual(1e-3);
    const png = decodeImagePng(await readFile(out));
    const reference = decodeImagePng(await readFile(join(TINY, c.png)));
    const ours = toRgb8(png.rgb);
    const theirs = toRgb8(reference.rgb);
    // Within one 8-bit level per channel.
    expect(ours.every((v, i) => Math.abs(v - theirs[i]!) <= 1)).toBe(true);
    expect(png.parameters).toMatchObject({ prompt: c.prompt, steps: 4, sampler: 'DDIM', seed: 7, width: c.width, height: c.height });
  }, 900_000);
});
