/**
 * Size-bucketed pool of storage buffers for intermediate tensors.
 *
 * Sizes are rounded up to a bucket (powers of two split in quarters, so at most 25% is wasted), and a released
 * buffer is reused for a request of the same bucket, or of a bucket up to 4× smaller when its own has none free.
 * A released buffer is free at once for tensors that GPU commands write: the commands of a batch run in order, and WebGPU orders a dispatch's writes after the earlier
 * dispatches' reads, so reuse within a batch is safe and the pool holds no more than the live tensors need (the
 * peak is the liveness of the op sequence, which plan mode records without a GPU). A buffer the host fills
 * (`queue.writeBuffer`, which runs before every command recorded for the same submit) takes only a buffer that no
 * recorded command uses: one free since the last submit, or a new one.
 *
 * `inUseBytes` counts buffers handed out, `allocatedBytes` every GPU buffer the pool holds; both keep their peak.
 */
import { BufferTooLargeError } from './errors';

const MIN_BUCKET = 256;
const MAX_SLACK = 4;

export function bucketSize(bytes: number): number {
  const size = Math.max(MIN_BUCKET, bytes);
  const pow = 2 ** Math.floor(Math.log2(size));
  const quarter = pow / 4;
  return Math.ceil(size / quarter) * quarter;
}

/** Bytes of a new buffer the pool creates for a request of `bytes` under a limit of `maxBufferBytes`. */
export function pooledBytes(bytes: number, maxBufferBytes: number): number {
  const size = bucketSize(bytes);
  // Near the limit the bucket may not fit where the exact size does.
  return size > maxBufferBytes ? Math.ceil(bytes / 4) * 4 : size;
}

/** The largest request whose new buffer is at most `limit` bytes (`pooledBytes(largestRequest(l), ∞) ≤ l`). */
export function largestRequest(limit: number): number {
  const pow = 2 ** Math.floor(Math.log2(limit));
  const quarter = pow / 4;
  return Math.max(MIN_BUCKET, Math.floor(limit / quarter) * quarter);
}

export interface PoolStats {
  inUseBytes: number;
  peakInUseBytes: number;
  allocatedBytes: number;
  peakAllocatedBytes: number;
  buffers: number;
  /** The largest buffer created since the pool was made or its peaks were reset. */
  largestBytes: number;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /** Released since the last submit: recorded commands may still read them, so the host must not write them. */
  private readonly recent = new Set<GPUBuffer>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private readonly inUse = new WeakSet<GPUBuffer>();
  private stats: PoolStats = { inUseBytes: 0, peakInUseBytes: 0, allocatedBytes: 0, peakAllocatedBytes: 0, buffers: 0, largestBytes: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferBytes: number,
  ) {}

  /**
   * A buffer of at least `bytes`, usable as storage and as copy source/destination. `hostWrite`: the caller fills
   * it with `queue.writeBuffer` before the next submit.
   */
  acquire(bytes: number, label: string, hostWrite = false): GPUBuffer {
    if (bytes > this.maxBufferBytes) throw new BufferTooLargeError(label, bytes, this.maxBufferBytes);
    let size = pooledBytes(bytes, this.maxBufferBytes);
    let buffer = this.take(size, hostWrite);
    if (!buffer) {
      // A free buffer of up to MAX_SLACK times the size beats a new one: across SD 1.5's UNet the pool then holds
      // 332 MB instead of 451 MB (batch 2, 512×512, plan mode), for at most 4× the bytes on a few small tensors.
      const larger = [...this.free.keys()].filter((s) => s > size && s <= size * MAX_SLACK).sort((a, b) => a - b);
      for (const s of larger) {
        buffer = this.take(s, hostWrite);
        if (buffer) {
          size = s;
          break;
        }
      }
    }
    buffer ??= this.allocate(size, label);
    this.account(size);
    this.inUse.add(buffer);
    return buffer;
  }

  private take(size: number, hostWrite: boolean): GPUBuffer | undefined {
    const list = this.free.get(size);
    if (!list) return undefined;
    const index = hostWrite ? list.findLastIndex((b) => !this.recent.has(b)) : list.length - 1;
    const buffer = index >= 0 ? list.splice(index, 1)[0] : undefined;
    if (list.length === 0) this.free.delete(size);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new Error(`buffer ${buffer.label} does not belong to this pool`);
    // A second release would put the buffer on the free list twice, and two later tensors would share it.
    if (!this.inUse.has(buffer)) throw new Error(`buffer ${buffer.label} was released twice`);
    this.inUse.delete(buffer);
    this.stats.inUseBytes -= size;
    const list = this.free.get(size) ?? [];
    list.push(buffer);
    this.free.set(size, list);
    this.recent.add(buffer);
  }

  /** Called after each submit: the host may write every free buffer again. */
  recycle(): void {
    this.recent.clear();
  }

  /** Destroys every free buffer (used when a stage is unloaded or memory is tight); call it between submits. */
  trim(): void {
    this.recycle();
    for (const [size, list] of this.free) {
      for (const buffer of list) {
        buffer.destroy();
        this.stats.allocatedBytes -= size;
        this.stats.buffers--;
      }
    }
    this.free.clear();
  }

  /** Bytes of every GPU buffer the pool holds now. */
  get allocatedBytes(): number {
    return this.stats.allocatedBytes;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }

  resetPeaks(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
    this.stats.largestBytes = 0;
  }

  private allocate(size: number, label: string): GPUBuffer {
    const buffer = this.device.createBuffer({
      size,
      label,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.sizes.set(buffer, size);
    this.stats.allocatedBytes += size;
    this.stats.buffers++;
    this.stats.largestBytes = Math.max(this.stats.largestBytes, size);
    this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    return buffer;
  }

  private account(size: number): void {
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
  }
}
