/**
 * Counts dispatches per op and, where the adapter has `timestamp-query` and timing is on, measures GPU time per op
 * with one timestamp pair around each dispatch (each dispatch then gets its own compute pass).
 */
export interface OpProfile {
  op: string;
  dispatches: number;
  /** GPU time in milliseconds, when timestamps were taken. */
  gpuMs?: number;
}

const QUERY_CAPACITY = 2048; // timestamps per batch: two per dispatch

export class Profiler {
  private readonly counts = new Map<string, number>();
  private readonly gpuNs = new Map<string, number>();
  private readonly pendingReads: Promise<void>[] = [];
  private querySet?: GPUQuerySet;
  private batchOps: string[] = [];
  dispatches = 0;

  constructor(
    private readonly device: GPUDevice,
    /** Take GPU timestamps (needs the `timestamp-query` feature). */
    readonly timing: boolean,
  ) {}

  count(op: string): void {
    this.dispatches++;
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
  }

  /** Timestamp writes for the pass of the next dispatch, or undefined when not timing. */
  timestampWrites(op: string): GPUComputePassTimestampWrites | undefined {
    if (!this.timing) return undefined;
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY, label: 'profiler' });
    const index = this.batchOps.length * 2;
    this.batchOps.push(op);
    return { querySet: this.querySet, beginningOfPassWriteIndex: index, endOfPassWriteIndex: index + 1 };
  }

  /** True when the query set is full and the batch must be submitted before the next dispatch. */
  get full(): boolean {
    return this.timing && this.batchOps.length * 2 >= QUERY_CAPACITY;
  }

  /** Records the resolve of this batch's timestamps into `encoder`; call `afterSubmit` once it is submitted. */
  resolve(encoder: GPUCommandEncoder): (() => void) | undefined {
    if (!this.timing || this.batchOps.length === 0) return undefined;
    const n = this.batchOps.length * 2;
    const resolveBuffer = this.device.createBuffer({
      size: n * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const readBuffer = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet!, 0, n, resolveBuffer, 0);
    encoder.copyBufferToBuffer(resolveBuffer, 0, readBuffer, 0, n * 8);
    const ops = this.batchOps;
    this.batchOps = [];
    return () => {
      this.pendingReads.push(
        readBuffer.mapAsync(GPUMapMode.READ).then(() => {
          const times = new BigUint64Array(readBuffer.getMappedRange());
          ops.forEach((op, i) => {
            const ns = Number(times[2 * i + 1]! - times[2 * i]!);
            this.gpuNs.set(op, (this.gpuNs.get(op) ?? 0) + Math.max(0, ns));
          });
          readBuffer.destroy();
          resolveBuffer.destroy();
        }),
      );
    };
  }

  /** Waits for outstanding timestamp reads, then returns the per-op profile sorted by GPU time or count. */
  async report(): Promise<OpProfile[]> {
    await Promise.all(this.pendingReads.splice(0));
    const rows = [...this.counts].map(([op, dispatches]) => {
      const ns = this.gpuNs.get(op);
      return { op, dispatches, ...(ns === undefined ? {} : { gpuMs: ns / 1e6 }) };
    });
    return rows.sort((a, b) => (b.gpuMs ?? 0) - (a.gpuMs ?? 0) || b.dispatches - a.dispatches);
  }

  reset(): void {
    this.counts.clear();
    this.gpuNs.clear();
    this.dispatches = 0;
  }
}
