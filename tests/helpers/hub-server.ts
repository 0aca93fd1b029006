/**
 * A local stand-in for the Hugging Face hub (node:http), serving model folders the way huggingface.co does:
 *
 * - `GET|HEAD /{owner}/{name}/resolve/{revision}/{path}`: small files are served directly (ETag = their sha1);
 *   `*.safetensors` files (Git LFS on the hub) answer `302` to `/cdn/{owner}/{name}/{path}` with the file's sha256
 *   (quoted) in `X-Linked-ETag` and its size in `X-Linked-Size`. Missing files: `404` with `X-Error-Code: EntryNotFound`.
 * - `GET /{owner}/{name}/raw/{revision}/{path}`: the Git LFS pointer of a `*.safetensors` file, else its content.
 * - `GET|HEAD /cdn/...`: the bytes, with `Range: bytes=a-` / `a-b` (206 + Content-Range; 416 past the end),
 *   `ETag` (the sha256) and `Accept-Ranges`.
 *
 * With `fp16Variants`, every `X.safetensors` of F32 tensors also exists as `X.fp16.safetensors` (converted to F16
 * here), like repositories that publish diffusers' fp16 variant.
 *
 * Every answer carries CORS headers as huggingface.co's do (any origin; the size, hash and range headers readable),
 * so a browser page (the extension's offscreen document, which has no host permission for this address) can use it.
 *
 * Faults are queued per request with `fault()`: each matches request paths (the resolve and the CDN path both
 * contain the file's repository path) and applies to that many matching requests. Every request is logged.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { f32ToF16Bits } from '../../engine/quant/f16';

export type Fault =
  /** Sends the headers and `afterBytes` bytes of the body, then destroys the connection. */
  | { kind: 'cut'; afterBytes: number }
  /** Answers with this status (500, 503, 429, ...) and no body. */
  | { kind: 'status'; status: number }
  /** Sends `bytes` bytes more than the file has; `announce`: with a Content-Length that counts them, else chunked. */
  | { kind: 'extra'; bytes: number; announce: boolean }
  /** Sends `bytes` bytes fewer than asked for, with a Content-Length that matches what is sent (a clean end). */
  | { kind: 'short'; bytes: number }
  /** Inverts the byte at this file offset. */
  | { kind: 'flip'; at: number }
  /** Answers a Range request with 200 and the whole file. */
  | { kind: 'ignore-range' }
  /** 404, as for a file the repository lacks. */
  | { kind: 'not-found' }
  /** Waits until `release()` before sending the body (to cancel or join a download in flight). */
  | { kind: 'hold'; release: Promise<void> };

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Body bytes written. */
  bytes: number;
}

export interface HubServer {
  /** `http://127.0.0.1:<port>`, the `base` for `resolveUrl`. */
  base: string;
  log: LoggedRequest[];
  /** The served bytes of `repo`'s `path` (including synthesised fp16 variants). */
  file(repo: string, path: string): Buffer;
  sha256(repo: string, path: string): string;
  /**
   * Queues a fault for the next `times` (default 1) requests whose path matches, and whose Range header (or '' when
   * there is none) matches `range` when given: a browser's size probes (`bytes=0-0`) reach the CDN path too.
   */
  fault(path: RegExp, fault: Fault, times?: number, range?: RegExp): void;
  close(): Promise<void>;
}

interface Entry {
  bytes: Buffer;
  sha256: string;
  sha1: string;
}

export async function startHubServer(repos: Record<string, string>, options: { fp16Variants?: boolean } = {}): Promise<HubServer> {
  const files = new Map<string, Entry>();
  const entry = (bytes: Buffer): Entry => ({
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    sha1: createHash('sha1').update(bytes).digest('hex'),
  });
  for (const [repo, dir] of Object.entries(repos)) {
    for (const path of await listFiles(dir)) {
      const bytes = await readFile(join(dir, path));
      files.set(`${repo}/${path}`, entry(bytes));
      const variant = path.replace(/\.safetensors$/, '.fp16.safetensors');
      if (options.fp16Variants && variant !== path && !path.endsWith('.fp16.safetensors')) files.set(`${repo}/${variant}`, entry(toFp16(bytes)));
    }
  }

  const faults: { path: RegExp; range?: RegExp; fault: Fault; left: number }[] = [];
  const log: LoggedRequest[] = [];

  const takeFault = (path: string, range: string): Fault | undefined => {
    const index = faults.findIndex((f) => f.path.test(path) && (f.range?.test(range) ?? true));
    if (index < 0) return undefined;
    const f = faults[index]!;
    if (--f.left === 0) faults.splice(index, 1);
    return f.fault;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    const record: LoggedRequest = { method: req.method ?? 'GET', path, status: 0, bytes: 0 };
    if (req.headers.range) record.range = req.headers.range;
    log.push(record);
    const send = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
      record.status = status;
      res.writeHead(status, headers);
      if (body && req.method !== 'HEAD') {
        record.bytes = body.byteLength;
        res.end(body);
      } else res.end();
    };

    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges, ETag, X-Linked-ETag, X-Linked-Size, X-Error-Code');
    if (req.method === 'OPTIONS') {
      return send(204, { 'Access-Control-Allow-Headers': 'Range', 'Access-Control-Allow-Methods': 'GET, HEAD', 'Content-Length': 0 });
    }
    const fault = takeFault(path, req.headers.range ?? '');
    if (fault?.kind === 'status') return send(fault.status, { 'Content-Length': 0 });
    if (fault?.kind === 'not-found') return send(404, { 'X-Error-Code': 'EntryNotFound', 'Content-Length': 0 });

    const hub = path.match(/^\/([^/]+\/[^/]+)\/(resolve|raw)\/[^/]+\/(.+)$/);
    if (hub) {
      const [, repo, kind, file] = hub as unknown as [string, string, string, string];
      const found = files.get(`${repo}/${file}`);
      if (!found) return send(404, { 'X-Error-Code': 'EntryNotFound', 'Content-Length': 0 });
      const lfs = file.endsWith('.safetensors');
      if (kind === 'raw') {
        const body = lfs ? Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${found.sha256}\nsize ${found.bytes.byteLength}\n`) : found.bytes;
        return send(200, { 'Content-Length': body.byteLength, 'Content-Type': 'text/plain' }, body);
      }
      if (lfs) {
        return send(302, {
          Location: `/cdn/${repo}/${file}`,
          'X-Linked-ETag': `"${found.sha256}"`,
          'X-Linked-Size': found.bytes.byteLength,
          ETag: `"${found.sha1}"`,
          'Content-Length': 0,
        });
      }
      return serveBytes(req, res, record, found, `"${found.sha1}"`, fault);
    }
    const cdn = path.match(/^\/cdn\/(.+)$/);
    const found = cdn && files.get(cdn[1]!);
    if (!found) return send(404, { 'Content-Length': 0 });
    return serveBytes(req, res, record, found, `"${found.sha256}"`, fault);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const get = (repo: string, path: string) => {
    const found = files.get(`${repo}/${path}`);
    if (!found) throw new Error(`hub-server: no ${repo}/${path}`);
    return found;
  };
  return {
    base: `http://127.0.0.1:${port}`,
    log,
    file: (repo, path) => get(repo, path).bytes,
    sha256: (repo, path) => get(repo, path).sha256,
    fault(path, fault, times = 1, range) {
      faults.push({ path, fault, left: times, ...(range ? { range } : {}) });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

async function serveBytes(req: IncomingMessage, res: ServerResponse, record: LoggedRequest, file: Entry, etag: string, fault: Fault | undefined): Promise<void> {
  const size = file.bytes.byteLength;
  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
  if (range && fault?.kind !== 'ignore-range') {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size) {
      record.status = 416;
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    status = 206;
  }
  let body = Buffer.from(file.bytes.subarray(start, end + 1));
  if (fault?.kind === 'flip' && fault.at >= start && fault.at <= end) body[fault.at - start]! ^= 0xff;
  if (fault?.kind === 'extra') body = Buffer.concat([body, Buffer.alloc(fault.bytes, 0x5a)]);
  if (fault?.kind === 'short') body = body.subarray(0, Math.max(0, body.byteLength - fault.bytes));

  const headers: Record<string, string | number> = { ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
  if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  if (fault?.kind === 'extra' && !fault.announce) headers['Transfer-Encoding'] = 'chunked';
  else if (fault?.kind === 'cut') headers['Content-Length'] = end - start + 1;
  else headers['Content-Length'] = body.byteLength;
  record.status = status;
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (fault?.kind === 'hold') await fault.release;
  if (fault?.kind === 'cut') {
    const sent = body.subarray(0, fault.afterBytes);
    record.bytes = sent.byteLength;
    // Flush what was promised so far, then drop the connection without finishing the response.
    res.write(sent, () => res.destroy());
    return;
  }
  record.bytes = body.byteLength;
  // Several writes, as a real server streams a large file.
  const piece = 256 << 10;
  for (let i = 0; i < body.byteLength; i += piece) {
    if (res.destroyed) return;
    if (!res.write(body.subarray(i, i + piece))) {
      await new Promise<void>((resolve) => {
        const go = () => {
          res.off('drain', go);
          res.off('close', go);
          resolve();
        };
        res.on('drain', go);
        res.on('close', go);
      });
    }
  }
  res.end();
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)).split('\\').join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

/** The F16 version of a safetensors file of F32 tensors (other dtypes copied), in the same tensor order. */
function toFp16(bytes: Buffer): Buffer {
  const headerBytes = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerBytes).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const dataStart = 8 + headerBytes;
  const entries = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  const out: Record<string, unknown> = header.__metadata__ ? { __metadata__: header.__metadata__ } : {};
  const pieces: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const raw = bytes.subarray(dataStart + t.data_offsets[0], dataStart + t.data_offsets[1]);
    let data: Buffer;
    let dtype = t.dtype;
    if (t.dtype === 'F32') {
      const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      data = Buffer.alloc(values.length * 2);
      for (let i = 0; i < values.length; i++) data.writeUInt16LE(f32ToF16Bits(values[i]!), 2 * i);
      dtype = 'F16';
    } else data = Buffer.from(raw);
    out[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    pieces.push(data);
    offset += data.byteLength;
  }
  let json = JSON.stringify(out);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([prefix, Buffer.from(json), ...pieces]);
}
