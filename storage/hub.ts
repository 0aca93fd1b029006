/**
 * Hugging Face hub addressing and file metadata.
 *
 * Files are fetched from `{base}/{repo}/resolve/{revision}/{path}`. For files kept in Git LFS (the weights) the hub
 * answers with a redirect to its CDN and puts the file's sha256 (the LFS pointer's oid, quoted) in `X-Linked-ETag`
 * and its size in `X-Linked-Size` on that redirect; small files (configs, tokenizer) are served directly.
 *
 * Browsers do not let a page read a redirect's headers (`redirect: 'manual'` yields an opaque response), so when
 * the redirect is hidden the size comes from the CDN's response and the sha256 from the LFS pointer itself, which
 * `{base}/{repo}/raw/{revision}/{path}` serves (`oid sha256:<hex>` / `size <n>`). Node's fetch exposes the
 * redirect, which is what the command line and the tests see.
 */
import { FileNotFoundError, HubError } from './errors';
import { checkStatus, withRetries, type RetryOptions } from './retry';

export const HUB_BASE = 'https://huggingface.co';

export interface HubFile {
  repo: string;
  revision: string;
  /** Path in the repository, e.g. `unet/diffusion_pytorch_model.fp16.safetensors`. */
  path: string;
  /** Hub address (default `https://huggingface.co`; tests pass a local server). */
  base?: string;
}

export interface FileInfo {
  /** The resolve URL to download from (its redirect is followed by the download). */
  url: string;
  size: number;
  /** Lower-case hex sha256 the hub publishes (LFS files); undefined for files the hub serves directly. */
  sha256?: string;
}

export interface HubRequestOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
  retry?: RetryOptions;
}

const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

export function resolveUrl(repo: string, revision: string, path: string, base = HUB_BASE): string {
  return `${base}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`;
}

export function rawUrl(repo: string, revision: string, path: string, base = HUB_BASE): string {
  return `${base}/${repo}/raw/${encodeURIComponent(revision)}/${encodePath(path)}`;
}

/** The sha256 in an ETag-like header (`"<64 hex>"`, possibly weak), or undefined when it holds something else. */
export function sha256OfEtag(value: string | null): string | undefined {
  const match = value?.match(/^(?:W\/)?"?([0-9a-fA-F]{64})"?$/);
  return match?.[1]!.toLowerCase();
}

/** The oid and size of a Git LFS pointer file, or undefined when `text` is not one. */
export function parseLfsPointer(text: string): { sha256: string; size: number } | undefined {
  if (!text.startsWith('version https://git-lfs.github.com/spec/')) return undefined;
  const oid = text.match(/^oid sha256:([0-9a-f]{64})$/m)?.[1];
  const size = text.match(/^size (\d+)$/m)?.[1];
  return oid && size ? { sha256: oid, size: Number(size) } : undefined;
}

/** The file's total size from `Content-Range: bytes a-b/total` or, for a whole-file answer, `Content-Length`. */
function sizeOf(response: Response): number | undefined {
  const total = response.headers.get('Content-Range')?.match(/\/(\d+)$/)?.[1];
  if (total !== undefined) return Number(total);
  const length = response.headers.get('Content-Length');
  return response.status === 200 && length !== null ? Number(length) : undefined;
}

/**
 * Size and sha256 of a hub file without downloading it (a one-byte range request). A 404 raises
 * `FileNotFoundError`, so a caller can try the next variant (`*.fp16.safetensors` → `*.safetensors`).
 */
export async function fetchFileInfo(file: HubFile, options: HubRequestOptions = {}): Promise<FileInfo> {
  const doFetch = options.fetch ?? fetch;
  const url = resolveUrl(file.repo, file.revision, file.path, file.base);
  const probe = (redirect: RequestRedirect) =>
    withRetries(
      url,
      async () => {
        const response = await doFetch(url, { headers: { Range: 'bytes=0-0' }, redirect, signal: options.signal });
        await response.body?.cancel();
        if (response.type !== 'opaqueredirect' && !(response.status >= 300 && response.status < 400)) checkStatus(response, url);
        return response;
      },
      options.retry,
      options.signal,
    );

  const first = await probe('manual');
  const linkedSha = sha256OfEtag(first.headers.get('X-Linked-ETag'));
  const linkedSize = first.headers.get('X-Linked-Size');
  if (linkedSize !== null && Number.isSafeInteger(Number(linkedSize))) {
    return { url, size: Number(linkedSize), ...(linkedSha ? { sha256: linkedSha } : {}) };
  }
  if (first.ok) {
    const size = sizeOf(first);
    if (size === undefined) throw new HubError(url, first.status);
    return { url, size, ...(linkedSha ? { sha256: linkedSha } : {}) };
  }

  // A redirect whose headers said nothing (or could not be read): ask where it leads, then the LFS pointer.
  const followed = await probe('follow');
  const size = sizeOf(followed);
  if (size === undefined) throw new HubError(url, followed.status);
  const sha256 = sha256OfEtag(followed.headers.get('X-Linked-ETag')) ?? (await pointerOf(file, options))?.sha256;
  return { url, size, ...(sha256 ? { sha256 } : {}) };
}

async function pointerOf(file: HubFile, options: HubRequestOptions): Promise<{ sha256: string; size: number } | undefined> {
  const url = rawUrl(file.repo, file.revision, file.path, file.base);
  try {
    return parseLfsPointer(await fetchText(url, options));
  } catch (error) {
    if (error instanceof FileNotFoundError) return undefined;
    throw error;
  }
}

/** A small text file (config, tokenizer), with retries; 404 raises `FileNotFoundError`. */
export async function fetchText(url: string, options: HubRequestOptions = {}): Promise<string> {
  const doFetch = options.fetch ?? fetch;
  return withRetries(
    url,
    async () => {
      const response = await doFetch(url, { signal: options.signal });
      if (!response.ok) await response.body?.cancel();
      checkStatus(response, url);
      return response.text();
    },
    options.retry,
    options.signal,
  );
}
