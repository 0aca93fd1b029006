/**
 * Size-bucketed pool of storage buffers for intermediate tensors.
 *
 * Sizes are rounded up to a bucket (powers of two split in quarters, so at most 25% is wasted), and a released
 * buffer is reused only for a request of the same bucket. A buffer released while commands that use it are still
 * being recorded is held back until the next submit: reusing it earlier would be safe for GPU commands (they run
 * in order) but not for `queue.writeBuffer`, which runs before the recorded commands of the same submit.
 *
 * `inUseBytes` counts buffers handed out, `allocatedBytes` every GPU buffer the pool holds; both keep their peak.
 */
import { BufferTooLargeError } from './errors';

const MIN_BUCKET = 256;

export function bucketSize(bytes: number): number {
  const size = Math.max(MIN_BUCKET, bytes);
  const pow = 2 ** Math.floor(Math.log2(size));
  const quarter = pow / 4;
  return Math.ceil(size / quarter) * quarter;
}

export interface PoolStats {
  inUseBytes: number;
  peakInUseBytes: number;
  allocatedBytes: number;
  peakAllocatedBytes: number;
  buffers: number;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private stats: PoolStats = { inUseBytes: 0, peakInUseBytes: 0, allocatedBytes: 0, peakAllocatedBytes: 0, buffers: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferBytes: number,
  ) {}

  /** A buffer of at least `bytes`, usable as storage and as copy source/destination. */
  acquire(bytes: number, label: string): GPUBuffer {
    if (bytes > this.maxBufferBytes) throw new BufferTooLargeError(label, bytes, this.maxBufferBytes);
    let size = bucketSize(bytes);
    // Near the limit the bucket may not fit where the exact size does.
    if (size > this.maxBufferBytes) size = Math.ceil(bytes / 4) * 4;
    const list = this.free.get(size);
    const buffer = list?.pop() ?? this.allocate(size, label);
    if (list?.length === 0) this.free.delete(size);
    this.account(size);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new Error(`buffer ${buffer.label} does not belong to this pool`);
    this.stats.inUseBytes -= size;
    this.pending.push(buffer);
  }

  /** Called after each submit: buffers released before it may be handed out again. */
  recycle(): void {
    for (const buffer of this.pending) {
      const size = this.sizes.get(buffer)!;
      const list = this.free.get(size) ?? [];
      list.push(buffer);
      this.free.set(size, list);
    }
    this.pending = [];
  }

  /** Destroys every free buffer (used when a stage is unloaded or memory is tight). */
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

  getStats(): PoolStats {
    return { ...this.stats };
  }

  resetPeaks(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
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
    this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    return buffer;
  }

  private account(size: number): void {
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
  }
}
