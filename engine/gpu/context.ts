/**
 * The engine's handle on one GPU device: buffer pool, pipeline cache, command batching, uniforms, profiler,
 * uploads and read-backs, and device loss.
 *
 * Ops record dispatches into one command encoder (one compute pass per batch, or one per dispatch when timing);
 * `flush()` submits. Uniforms are written into 256-byte slots of shared arenas that are uploaded right before the
 * submit, so a batch of hundreds of dispatches costs a handful of `writeBuffer` calls.
 */
import { BufferPool, type PoolStats } from './buffer-pool';
import { acquireDevice, type AcquireOptions, type AdapterSummary } from './device';
import { BufferTooLargeError, DeviceLostError, EngineError, ShapeError } from './errors';
import { packedBytes } from '../quant/pack';
import { PipelineCache } from './pipeline-cache';
import { Profiler } from './profiler';
import { isChannelSlice, numel, shapeString, type Output, type StorageFormat, type Tensor } from './tensor';
import type { OpTuning } from '../tune/shapes';

export interface Program {
  /** Op name: labels, profiling and the first part of the pipeline key. */
  op: string;
  /** Everything that changes the WGSL text or its constants (format, epilogue, tile sizes). */
  variant: string;
  /** The WGSL source; called only when the pipeline is not cached yet. */
  code: () => string;
  /** Values of the shader's `override` constants. */
  constants?: Record<string, number>;
  /** Uniform data, bound at `@binding(0)`. */
  uniforms: ArrayBufferView;
  /**
   * Storage bindings, bound at `@binding(1)` onwards in this order; `undefined` leaves a number unused (e.g. the
   * scales binding of a weight format that has none), so each binding keeps a fixed number across variants.
   */
  bindings: readonly (Tensor | GPUBuffer | undefined)[];
  workgroups: readonly [number, number?, number?];
}

export interface ContextOptions extends AcquireOptions {
  /** Take GPU timestamps per dispatch (when the adapter supports them). */
  timing?: boolean;
  /** Attention's per-dispatch score budget in bytes (engine/ops/attention.ts); default 128 MiB. */
  attentionBudgetBytes?: number;
}

/** Attention's default per-dispatch budget: bytes of the (never stored) score matrix one query chunk stands for. */
export const DEFAULT_ATTENTION_BUDGET = 128 * 1024 * 1024;

const ARENA_BYTES = 64 * 1024;
const MAX_DISPATCHES_PER_BATCH = 512;

interface Arena {
  buffer: GPUBuffer;
  data: Uint8Array<ArrayBuffer>;
  used: number;
}

export class GpuContext {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly profiler: Profiler;
  /** Resolves when the device is lost; the context is unusable afterwards. */
  readonly lost: Promise<DeviceLostError>;
  /**
   * Tuned op configurations for this adapter (engine/tune): the GEMM, convolution and attention ops ask it for their
   * call's shape and run their defaults where it has no answer. Set it before loading models: the convolution
   * algorithm is chosen when a weight is loaded.
   */
  tuning?: OpTuning;
  private lostError?: DeviceLostError;
  private uncaptured?: GPUError;
  private encoder?: GPUCommandEncoder;
  private pass?: GPUComputePassEncoder;
  private batchDispatches = 0;
  private arenas: Arena[] = [];
  private arenaIndex = 0;
  private weightBytes = 0;
  private peakBytes = 0;
  private readonly uniformAlign: number;
  /**
   * Bytes of scores one attention dispatch may stand for: smaller budgets mean shorter dispatches (GPU watchdogs,
   * responsiveness) and more of them. A setting; ops read it unless a call passes its own.
   */
  attentionBudgetBytes = DEFAULT_ATTENTION_BUDGET;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    timing: boolean,
  ) {
    this.pool = new BufferPool(device, this.maxBindingBytes);
    this.pipelines = new PipelineCache(device);
    this.profiler = new Profiler(device, timing && adapter.features.timestampQuery);
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.lost = device.lost.then((info) => {
      this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message);
      return this.lostError;
    });
    device.onuncapturederror = (event) => {
      this.uncaptured ??= event.error;
    };
  }

  static async create(gpu: GPU | undefined, options: ContextOptions = {}): Promise<GpuContext> {
    const { device, summary } = await acquireDevice(gpu, options);
    const ctx = new GpuContext(device, summary, options.timing ?? false);
    if (options.attentionBudgetBytes !== undefined) ctx.attentionBudgetBytes = options.attentionBudgetBytes;
    return ctx;
  }

  /** Wraps a device acquired elsewhere (the caller keeps the adapter summary). */
  static fromDevice(device: GPUDevice, summary: AdapterSummary, timing = false): GpuContext {
    return new GpuContext(device, summary, timing);
  }

  /** The largest storage binding this device allows, in bytes. */
  get maxBindingBytes(): number {
    return Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
  }

  get isLost(): boolean {
    return this.lostError !== undefined;
  }

  /** A pooled f32 activation tensor; give it back with `release`. */
  empty(shape: readonly number[], label: string): Tensor {
    return this.pooled(shape, label, false);
  }

  /** A pooled f32 tensor holding `data`. */
  upload(data: Float32Array, shape: readonly number[], label: string): Tensor {
    if (data.length !== numel(shape)) throw new EngineError(`${label}: ${data.length} values for shape ${shapeString(shape)}`);
    const t = this.pooled(shape, label, true);
    this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  private pooled(shape: readonly number[], label: string, hostWrite: boolean): Tensor {
    this.checkAlive();
    const byteLength = numel(shape) * 4;
    if (byteLength > this.maxBindingBytes) throw new BufferTooLargeError(`${label} ${shapeString(shape)}`, byteLength, this.maxBindingBytes);
    const buffer = this.pool.acquire(byteLength, label, hostWrite);
    this.notePeak();
    return { shape: [...shape], format: 'f32', buffer, byteOffset: 0, byteLength, label };
  }

  /** Gives pooled tensors back; their buffers serve later tensors at once (see engine/gpu/buffer-pool.ts). */
  release(...tensors: (Tensor | undefined)[]): void {
    for (const t of tensors) if (t) this.pool.release(t.buffer);
  }

  /**
   * A weight tensor in its own buffers (not pooled: weights live as long as their model). `data` holds the packed
   * values in the layout of `format` (see `engine/quant`), `scales` the packed f16 scales of quantised formats.
   */
  weight(shape: readonly number[], format: StorageFormat, data: Uint32Array | Float32Array, label: string, scales?: Uint32Array): Tensor {
    this.checkAlive();
    const make = (bytes: ArrayBufferView, what: string) => {
      const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
      if (size > this.maxBindingBytes) throw new BufferTooLargeError(`${label} ${shapeString(shape)}`, size, this.maxBindingBytes);
      const buffer = this.device.createBuffer({ size, label: `${label}${what}`, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      buffer.unmap();
      this.weightBytes += size;
      this.notePeak();
      return buffer;
    };
    const buffer = make(data, '');
    const scaleBuffer = scales ? make(scales, '.scales') : undefined;
    return { shape: [...shape], format, buffer, byteOffset: 0, byteLength: data.byteLength, label, ...(scaleBuffer ? { scales: scaleBuffer } : {}) };
  }

  /**
   * A weight tensor of `shape` in `format` whose buffers are created but not filled: for dry loads on a plan device
   * (engine/gpu/plan-device.ts), where only sizes matter, and for benchmarks that fill weights on the GPU.
   */
  reserveWeight(shape: readonly [number, number], format: StorageFormat, label: string): Tensor {
    this.checkAlive();
    const bytes = packedBytes(format, shape[0], shape[1]);
    const make = (size: number, what: string) => {
      if (size > this.maxBindingBytes) throw new BufferTooLargeError(`${label} ${shapeString(shape)}`, size, this.maxBindingBytes);
      this.weightBytes += size;
      this.notePeak();
      return this.device.createBuffer({ size, label: `${label}${what}`, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    };
    const buffer = make(Math.max(4, bytes.data), '');
    const scales = bytes.scales ? make(bytes.scales, '.scales') : undefined;
    return { shape: [...shape], format, buffer, byteOffset: 0, byteLength: bytes.data, label, ...(scales ? { scales } : {}) };
  }

  destroyWeight(t: Tensor): void {
    this.weightBytes -= t.buffer.size + (t.scales?.size ?? 0);
    t.buffer.destroy();
    t.scales?.destroy();
  }

  /** Records one dispatch into the current batch. */
  dispatch(program: Program): void {
    this.checkAlive();
    const key = `${program.op}/${program.variant}`;
    const pipeline = this.pipelines.get(key, program.code, program.constants);
    if (this.profiler.full || this.batchDispatches >= MAX_DISPATCHES_PER_BATCH) this.flush();
    const uniform = this.uniformSlot(program.uniforms);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: uniform }];
    program.bindings.forEach((b, i) => {
      if (!b) return;
      const resource: GPUBufferBinding =
        'shape' in b ? { buffer: b.buffer, offset: b.byteOffset, size: Math.max(4, Math.ceil(b.byteLength / 4) * 4) } : { buffer: b };
      entries.push({ binding: i + 1, resource });
    });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label: key });
    this.encoder ??= this.device.createCommandEncoder({ label: 'engine batch' });
    const timestampWrites = this.profiler.timestampWrites(program.op);
    if (timestampWrites) {
      this.pass?.end();
      this.pass = undefined;
      const pass = this.encoder.beginComputePass({ label: key, timestampWrites });
      this.encodeDispatch(pass, pipeline, bindGroup, program.workgroups);
      pass.end();
    } else {
      this.pass ??= this.encoder.beginComputePass({ label: 'engine batch' });
      this.encodeDispatch(this.pass, pipeline, bindGroup, program.workgroups);
    }
    this.profiler.count(program.op);
    this.batchDispatches++;
  }

  /** Copies `bytes` bytes between buffers as part of the current batch. */
  copy(src: Tensor, srcOffset: number, dst: Tensor, dstOffset: number, bytes: number): void {
    this.checkAlive();
    this.pass?.end();
    this.pass = undefined;
    this.encoder ??= this.device.createCommandEncoder({ label: 'engine batch' });
    this.encoder.copyBufferToBuffer(src.buffer, src.byteOffset + srcOffset, dst.buffer, dst.byteOffset + dstOffset, bytes);
  }

  /** Zeroes `bytes` bytes of a tensor from `offset` (both multiples of 4) as part of the current batch. */
  clear(t: Tensor, offset: number, bytes: number): void {
    this.checkAlive();
    this.pass?.end();
    this.pass = undefined;
    this.encoder ??= this.device.createCommandEncoder({ label: 'engine batch' });
    this.encoder.clearBuffer(t.buffer, t.byteOffset + offset, bytes);
  }

  /** Submits everything recorded so far. GPU errors surface at the next `sync` or read, once they are all in. */
  flush(): void {
    this.checkAlive();
    this.pass?.end();
    this.pass = undefined;
    const encoder = this.encoder;
    this.encoder = undefined;
    for (const arena of this.arenas.slice(0, this.arenaIndex + 1)) {
      if (arena.used) this.device.queue.writeBuffer(arena.buffer, 0, arena.data, 0, arena.used);
    }
    if (encoder) {
      const afterSubmit = this.profiler.resolve(encoder);
      this.device.queue.submit([encoder.finish()]);
      afterSubmit?.();
    }
    for (const arena of this.arenas) arena.used = 0;
    this.arenaIndex = 0;
    this.batchDispatches = 0;
    this.pool.recycle();
  }

  /** Flushes and waits until the GPU has finished everything submitted. */
  async sync(): Promise<void> {
    this.flush();
    await this.guard(this.device.queue.onSubmittedWorkDone());
    await this.pipelines.settled();
    this.throwUncaptured();
  }

  /** Reads a tensor back as f32 (flushing first). */
  async read(t: Tensor): Promise<Float32Array> {
    return new Float32Array(await this.readBytes(t.buffer, t.byteOffset, numel(t.shape) * 4));
  }

  async readBytes(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    this.flush();
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'read-back' });
    const encoder = this.device.createCommandEncoder({ label: 'read-back' });
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    try {
      await this.guard(staging.mapAsync(GPUMapMode.READ));
      const out = staging.getMappedRange().slice(0, bytes);
      staging.unmap();
      await this.pipelines.settled();
      this.throwUncaptured();
      return out;
    } finally {
      staging.destroy();
    }
  }

  /**
   * Memory held by this context: pooled intermediates and weights; `peakBytes` is the most both held together
   * since the context was made or `resetPeaks` was called.
   */
  memory(): PoolStats & { weightBytes: number; peakBytes: number } {
    return { ...this.pool.getStats(), weightBytes: this.weightBytes, peakBytes: this.peakBytes };
  }

  /** Starts the peaks (pool and total) again from what is held now. */
  resetPeaks(): void {
    this.pool.resetPeaks();
    this.peakBytes = this.pool.allocatedBytes + this.weightBytes;
  }

  private notePeak(): void {
    this.peakBytes = Math.max(this.peakBytes, this.pool.allocatedBytes + this.weightBytes);
  }

  /** Largest number of workgroups in one grid dimension. */
  get maxWorkgroupsPerDimension(): number {
    return this.device.limits.maxComputeWorkgroupsPerDimension;
  }

  /**
   * Spreads `count` workgroups over x and y so no dimension exceeds the device limit. Shaders recover the linear
   * index as `wid.x + wid.y * nwg.x` and skip indices ≥ count.
   */
  grid(count: number): [number, number] {
    const max = this.maxWorkgroupsPerDimension;
    if (count <= max) return [Math.max(1, count), 1];
    const y = Math.ceil(count / max);
    return [Math.ceil(count / y), y];
  }

  /**
   * Waits for the GPU to go idle, then frees everything and destroys the device. Destroying with work in flight
   * makes Dawn in Node abort at process exit, so always await this.
   */
  async destroy(): Promise<void> {
    if (!this.lostError) await this.device.queue.onSubmittedWorkDone();
    this.pool.trim();
    for (const arena of this.arenas) arena.buffer.destroy();
    this.device.destroy();
  }

  private encodeDispatch(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, wg: Program['workgroups']): void {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(wg[0], wg[1] ?? 1, wg[2] ?? 1);
  }

  private uniformSlot(data: ArrayBufferView): GPUBufferBinding {
    const size = Math.ceil(Math.max(16, data.byteLength) / 16) * 16;
    let arena = this.arenas[this.arenaIndex];
    if (arena && arena.used + size > ARENA_BYTES) {
      this.arenaIndex++;
      arena = this.arenas[this.arenaIndex];
    }
    if (!arena) {
      arena = {
        buffer: this.device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniforms' }),
        data: new Uint8Array(ARENA_BYTES),
        used: 0,
      };
      this.arenas.push(arena);
    }
    const offset = arena.used;
    arena.data.fill(0, offset, offset + size);
    arena.data.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    arena.used = Math.ceil((offset + size) / this.uniformAlign) * this.uniformAlign;
    return { buffer: arena.buffer, offset, size };
  }

  private checkAlive(): void {
    if (this.lostError) throw this.lostError;
  }

  private throwUncaptured(): void {
    const error = this.uncaptured;
    const compile = this.pipelines.takeCompileError();
    if (error || compile) {
      this.uncaptured = undefined;
      throw new EngineError(`GPU error: ${compile ? `shader ${compile}` : error!.message}`);
    }
  }

  /** Turns a rejection caused by device loss into the named error. */
  private async guard<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      if (this.lostError) throw this.lostError;
      // The lost promise may resolve just after the failing call.
      const lost = await Promise.race([this.lost, new Promise<undefined>((r) => setTimeout(r, 50, undefined))]);
      throw lost ?? error;
    }
  }
}

/** Builds a uniform block from (type, value) pairs, each 4 bytes, in declaration order. */
export function uniforms(fields: readonly (readonly ['u32' | 'i32' | 'f32', number])[]): Uint32Array {
  const out = new Uint32Array(Math.max(4, Math.ceil(fields.length / 4) * 4));
  const f32 = new Float32Array(out.buffer);
  const i32 = new Int32Array(out.buffer);
  fields.forEach(([type, value], i) => {
    if (type === 'f32') f32[i] = value;
    else if (type === 'i32') i32[i] = value;
    else out[i] = value;
  });
  return out;
}

/** An op's output resolved to a tensor plus the channel offset and row stride (in elements) its writes use. */
export interface ResolvedOutput {
  tensor: Tensor;
  channelOffset: number;
  channelStride: number;
}

/**
 * Resolves an op's `out` argument for a result of `shape` (channels last): a fresh pooled tensor when absent, a whole
 * tensor of the same shape, or a channel slice of a tensor with the same leading dimensions and room for the channels.
 */
export function resolveOutput(ctx: GpuContext, shape: readonly number[], out: Output | undefined, label: string): ResolvedOutput {
  if (!out) return { tensor: ctx.empty(shape, label), channelOffset: 0, channelStride: shape[shape.length - 1]! };
  const tensor = isChannelSlice(out) ? out.tensor : out;
  const offset = isChannelSlice(out) ? out.offset : 0;
  const lead = shape.slice(0, -1);
  const channels = shape[shape.length - 1]!;
  const total = tensor.shape[tensor.shape.length - 1]!;
  const sameLead = tensor.shape.length === shape.length && lead.every((d, i) => d === tensor.shape[i]);
  if (tensor.format !== 'f32' || !sameLead || offset < 0 || offset + channels > total || (!isChannelSlice(out) && total !== channels)) {
    throw new ShapeError(`${label}: cannot write ${shapeString(shape)} into ${shapeString(tensor.shape)} at channel ${offset}`);
  }
  return { tensor, channelOffset: offset, channelStride: total };
}
