/**
 * Hub addressing and metadata (against the local hub server), the catalog, and the storage-space helpers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG, DEFAULT_MODEL_ID, hubModel, isRepoId } from '../../storage/catalog';
import { FileNotFoundError, HubError, InsufficientStorageError, InvalidRepoIdError } from '../../storage/errors';
import { fetchFileInfo, fetchText, parseLfsPointer, resolveUrl, sha256OfEtag } from '../../storage/hub';
import { checkQuota, requestPersistence } from '../../storage/quota';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { FIXTURE_DIR, recordingSleep, REPO } from './fixture';

const UNET = 'unet/diffusion_pytorch_model.safetensors';

let hub: HubServer;
beforeAll(async () => {
  hub = await startHubServer({ [REPO]: FIXTURE_DIR });
});
afterAll(() => hub.close());
afterEach(() => {
  hub.log.length = 0;
});

describe('hub', () => {
  it('builds resolve URLs', () => {
    expect(resolveUrl('stabilityai/sd-turbo', 'main', 'unet/diffusion_pytorch_model.fp16.safetensors')).toBe(
      'https://huggingface.co/stabilityai/sd-turbo/resolve/main/unet/diffusion_pytorch_model.fp16.safetensors',
    );
    expect(resolveUrl('a/b', 'refs/pr/1', 'x y.json', 'http://h')).toBe('http://h/a/b/resolve/refs%2Fpr%2F1/x%20y.json');
  });

  it("reads an LFS file's sha256 and size from the redirect, without downloading it", async () => {
    const info = await fetchFileInfo({ repo: REPO, revision: 'main', path: UNET, base: hub.base });
    expect(info).toEqual({ url: `${hub.base}/${REPO}/resolve/main/${UNET}`, size: hub.file(REPO, UNET).byteLength, sha256: hub.sha256(REPO, UNET) });
    expect(hub.log.map((r) => [r.path, r.status])).toEqual([[`/${REPO}/resolve/main/${UNET}`, 302]]);
  });

  it('reads the size of a small file served directly (no sha256 published)', async () => {
    const info = await fetchFileInfo({ repo: REPO, revision: 'main', path: 'unet/config.json', base: hub.base });
    expect(info).toEqual({ url: `${hub.base}/${REPO}/resolve/main/unet/config.json`, size: hub.file(REPO, 'unet/config.json').byteLength });
  });

  it('follows a redirect it cannot read (browsers) and takes the sha256 from the LFS pointer', async () => {
    // What a browser's fetch gives for redirect: 'manual': an opaque response with no status and no headers.
    const browserFetch: typeof fetch = async (input, init) =>
      init?.redirect === 'manual' ? ({ type: 'opaqueredirect', status: 0, ok: false, headers: new Headers(), body: null } as unknown as Response) : fetch(input, init);
    const info = await fetchFileInfo({ repo: REPO, revision: 'main', path: UNET, base: hub.base }, { fetch: browserFetch });
    expect(info).toMatchObject({ size: hub.file(REPO, UNET).byteLength, sha256: hub.sha256(REPO, UNET) });
    // The followed probe (resolve → CDN), then the pointer.
    expect(hub.log.map((r) => r.path)).toEqual([`/${REPO}/resolve/main/${UNET}`, `/cdn/${REPO}/${UNET}`, `/${REPO}/raw/main/${UNET}`]);
  });

  it('raises FileNotFoundError for a missing file and HubError for a refusal', async () => {
    await expect(fetchFileInfo({ repo: REPO, revision: 'main', path: 'unet/nothing.safetensors', base: hub.base })).rejects.toBeInstanceOf(FileNotFoundError);
    hub.fault(/config\.json$/, { kind: 'status', status: 403 });
    const error = await fetchText(resolveUrl(REPO, 'main', 'vae/config.json', hub.base)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubError);
    expect((error as Error).message).toMatch(/HTTP 403\. The repository is gated or private/);
  });

  it('retries server errors for metadata and text files', async () => {
    hub.fault(/vae\/config\.json$/, { kind: 'status', status: 502 }, 2);
    const { delays, sleep } = recordingSleep();
    const text = await fetchText(resolveUrl(REPO, 'main', 'vae/config.json', hub.base), { retry: { sleep } });
    expect(text).toBe(hub.file(REPO, 'vae/config.json').toString('utf8'));
    expect(delays).toEqual([1000, 2000]);
  });

  it('parses ETags and LFS pointers', () => {
    const hex = 'ab'.repeat(32);
    expect(sha256OfEtag(`"${hex}"`)).toBe(hex);
    expect(sha256OfEtag(`W/"${hex.toUpperCase()}"`)).toBe(hex);
    expect(sha256OfEtag('"5d41402abc4b2a76b9719d911017c592"')).toBeUndefined();
    expect(parseLfsPointer(`version https://git-lfs.github.com/spec/v1\noid sha256:${hex}\nsize 1234\n`)).toEqual({ sha256: hex, size: 1234 });
    expect(parseLfsPointer('{"a": 1}')).toBeUndefined();
  });
});

describe('catalog', () => {
  it('offers SD-Turbo (default: 1 step, no guidance, Euler trailing), SD 1.5, SD 2.1-base and an LCM model', () => {
    expect(CATALOG.map((e) => e.repo)).toEqual([
      'stabilityai/sd-turbo',
      'stable-diffusion-v1-5/stable-diffusion-v1-5',
      'stabilityai/stable-diffusion-2-1-base',
      'SimianLuo/LCM_Dreamshaper_v7',
    ]);
    const turbo = CATALOG.find((e) => e.id === DEFAULT_MODEL_ID)!;
    expect(turbo.recommended).toMatchObject({ steps: 1, guidance: 0, scheduler: 'euler', schedulerConfig: { timestep_spacing: 'trailing' } });
    expect(CATALOG.find((e) => e.repo.includes('LCM'))!.recommended.scheduler).toBe('lcm');
    for (const e of CATALOG) {
      expect(e.revision).toBe('main');
      expect(e.approxBytes).toBeGreaterThan(1e9);
      expect(e.license.length).toBeGreaterThan(10);
      expect(e.weights.unet[0]).toBe('unet/diffusion_pytorch_model.fp16.safetensors');
      expect(e.weights.unet[1]).toBe('unet/diffusion_pytorch_model.safetensors');
    }
  });

  it('builds entries for user-given repository ids and refuses malformed ones', () => {
    expect(hubModel(' someone/my-sd15.finetune ')).toMatchObject({ id: 'someone/my-sd15.finetune', repo: 'someone/my-sd15.finetune', revision: 'main', name: 'my-sd15.finetune' });
    expect(hubModel('stabilityai/sd-turbo')).toBe(CATALOG[0]);
    expect(hubModel('someone/model', 'v2').id).toBe('someone/model@v2');
    for (const bad of ['no-slash', 'a/b/c', '/b', 'a/', '-a/b', 'a/b.', 'a--b/c', 'a/b..c', 'a b/c', 'https://huggingface.co/a/b']) {
      expect(isRepoId(bad), bad).toBe(false);
      expect(() => hubModel(bad)).toThrow(InvalidRepoIdError);
    }
  });
});

describe('quota', () => {
  it('refuses when the bytes needed (with a margin) exceed the free space, and passes when the browser cannot tell', async () => {
    const storage = { estimate: async () => ({ usage: 1e9, quota: 3e9 }) };
    await expect(checkQuota(1.5e9, storage)).resolves.toBeUndefined();
    const error = await checkQuota(1.95e9, storage).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientStorageError);
    expect((error as Error).message).toMatch(/needs about 2\.0\d GB but only 2\.00 GB is free/);
    await expect(checkQuota(1e12, undefined)).resolves.toBeUndefined();
    await expect(checkQuota(1e12, { estimate: async () => ({}) })).resolves.toBeUndefined();
  });

  it('asks for persistent storage when the browser offers it', async () => {
    let asked = 0;
    expect(await requestPersistence({ estimate: async () => ({}), persisted: async () => false, persist: async () => (asked++, true) })).toBe(true);
    expect(await requestPersistence({ estimate: async () => ({}), persisted: async () => true, persist: async () => (asked++, true) })).toBe(true);
    expect(asked).toBe(1);
    expect(await requestPersistence({ estimate: async () => ({}) })).toBe(false);
  });
});
