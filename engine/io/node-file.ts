/**
 * A `ByteSource` over a file on disk for Node (the command line, tests, benchmarks). Kept apart from the rest of
 * `engine/` because it is the only engine file that imports Node modules; the browser build never loads it.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { ByteSource } from './safetensors';

export class NodeFileSource implements ByteSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly path: string,
  ) {}

  /** Opens `path` for reading; call `close()` when done with it. */
  static async open(path: string): Promise<NodeFileSource> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      return new NodeFileSource(handle, size, path);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Reads `length` bytes at `offset`; fewer only when the file ends first (the caller reports that). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    // A single read may return less than asked for (large reads are capped by the OS at about 2 GB).
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) return out.subarray(0, done);
      done += bytesRead;
    }
    return out;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
