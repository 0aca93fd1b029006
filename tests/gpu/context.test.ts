import { describe, expect, it } from 'vitest';
import { BufferPool, bucketSize } from '../../engine/gpu/buffer-pool';
import { GpuContext, resolveOutput } from '../../engine/gpu/context';
import { adapterName } from '../../engine/gpu/device';
import { BufferTooLargeError, DeviceLostError, EngineError, ShapeError, WebGPUNotFoundError } from '../../engine/gpu/errors';
import { nodeGpu } from '../../engine/gpu/node-gpu';
import { add, scale } from '../../engine/ops/elementwise';
import { gpuContext } from '../helpers/gpu';

describe('bucketSize', () => {
  it('rounds up to a quarter of a power of two, at least 256 bytes', () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(257)).toBe(320);
    expect(bucketSize(1024)).toBe(1024);
    expect(bucketSize(1025)).toBe(1280);
    expect(bucketSize(3 * 2 ** 20 + 1)).toBe(3.5 * 2 ** 20);
    for (let n = 1; n < 1e7; n = Math.ceil(n * 1.37)) {
      expect(bucketSize(n)).toBeGreaterThanOrEqual(n);
      expect(bucketSize(n)).toBeLessThanOrEqual(Math.max(256, n * 1.25));
    }
  });
});

describe('GpuContext', () => {
  it('describes the adapter and its features', async () => {
    const ctx = await gpuContext();
    expect(adapterName(ctx.adapter)).toMatch(/\S/);
    expect(ctx.adapter.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(typeof ctx.adapter.features.shaderF16).toBe('boolean');
    // The device got the adapter's own limits, not the defaults.
    expect(ctx.maxBindingBytes).toBe(Math.min(ctx.adapter.limits.maxStorageBufferBindingSize!, ctx.adapter.limits.maxBufferSize!));
  });

  it('accounts pooled bytes and peaks; reuses a released buffer at once, for host writes only after a submit', async () => {
    const ctx = await gpuContext();
    ctx.pool.trim();
    ctx.resetPeaks();
    const before = ctx.memory();
    const a = ctx.empty([1000], 'a');
    const b = ctx.empty([1000], 'b');
    expect(ctx.memory().inUseBytes - before.inUseBytes).toBe(2 * bucketSize(4000));
    ctx.release(a);
    // GPU commands run in order, so a tensor the GPU writes may take a buffer released in this batch...
    const c = ctx.empty([1000], 'c');
    expect(c.buffer).toBe(a.buffer);
    ctx.release(c);
    // ...but the host's writeBuffer runs before the batch's commands, which may still read it.
    const up = ctx.upload(new Float32Array(1000), [1000], 'up');
    expect(up.buffer).not.toBe(a.buffer);
    ctx.flush();
    const d = ctx.upload(new Float32Array(1000), [1000], 'd');
    expect(d.buffer).toBe(a.buffer);
    expect(ctx.memory().peakInUseBytes - before.inUseBytes).toBe(3 * bucketSize(4000));
    expect(ctx.memory().peakBytes).toBe(ctx.memory().weightBytes + ctx.memory().allocatedBytes);
    // A request whose bucket has no free buffer takes a free one up to 4× larger rather than a new one.
    ctx.release(up);
    const small = ctx.empty([400], 'small');
    expect(small.buffer).toBe(up.buffer);
    ctx.release(b, d, small);
    ctx.flush();
    expect(ctx.memory().inUseBytes).toBe(before.inUseBytes);
    ctx.pool.trim();
    expect(ctx.memory().allocatedBytes).toBe(0);
  });

  it('refuses to release a buffer twice (two later tensors would share it)', async () => {
    const ctx = await gpuContext();
    const a = ctx.empty([100], 'a');
    ctx.release(a);
    expect(() => ctx.release(a)).toThrow(/a was released twice/);
    ctx.flush();
    const b = ctx.empty([100], 'b');
    const c = ctx.empty([100], 'c');
    expect(c.buffer).not.toBe(b.buffer);
    ctx.release(b, c);
  });

  it('refuses buffers beyond the binding limit with a named error', async () => {
    const ctx = await gpuContext();
    expect(() => ctx.empty([ctx.maxBindingBytes / 4 + 1], 'huge')).toThrow(BufferTooLargeError);
    const pool = new BufferPool(ctx.device, 1024);
    expect(() => pool.acquire(1025, 'x')).toThrow(BufferTooLargeError);
  });

  it('compiles one pipeline per op variant, whatever the shape', async () => {
    const ctx = await gpuContext();
    const compiles = ctx.pipelines.compiles;
    for (const n of [3, 300, 3000]) {
      const x = ctx.upload(new Float32Array(n).fill(1), [n], 'x');
      ctx.release(x, scale(ctx, x, 2), scale(ctx, x, 3));
    }
    await ctx.sync();
    expect(ctx.pipelines.compiles - compiles).toBeLessThanOrEqual(1);
  });

  it('counts dispatches per op and times them with timestamp queries', async () => {
    const gpu = await nodeGpu();
    const ctx = await GpuContext.create(gpu, { timing: true });
    try {
      const x = ctx.upload(new Float32Array(4096).fill(1), [4096], 'x');
      const y = add(ctx, x, x);
      const z = scale(ctx, y, 2);
      expect(Array.from(await ctx.read(z)).every((v) => v === 4)).toBe(true);
      const report = await ctx.profiler.report();
      expect(ctx.profiler.dispatches).toBe(2);
      expect(report.map((r) => r.op).sort()).toEqual(['add', 'scale']);
      if (ctx.adapter.features.timestampQuery) {
        for (const row of report) expect(row.gpuMs).toBeGreaterThanOrEqual(0);
      }
    } finally {
      await ctx.destroy();
    }
  });

  it('resolves outputs into channel slices and rejects ones that do not fit', async () => {
    const ctx = await gpuContext();
    const joined = ctx.empty([2, 3, 10], 'joined');
    expect(resolveOutput(ctx, [2, 3, 4], { tensor: joined, offset: 6 }, 'x')).toMatchObject({ channelOffset: 6, channelStride: 10 });
    expect(() => resolveOutput(ctx, [2, 3, 4], { tensor: joined, offset: 7 }, 'x')).toThrow(ShapeError);
    expect(() => resolveOutput(ctx, [2, 4, 4], { tensor: joined, offset: 0 }, 'x')).toThrow(ShapeError);
    expect(() => resolveOutput(ctx, [2, 3, 4], joined, 'x')).toThrow(ShapeError);
    ctx.release(joined);
  });

  it('reports a missing WebGPU with a named error', async () => {
    await expect(GpuContext.create(undefined)).rejects.toBeInstanceOf(WebGPUNotFoundError);
  });

  it('turns a lost device into DeviceLostError', async () => {
    const ctx = await GpuContext.create(await nodeGpu());
    const x = ctx.upload(new Float32Array(16).fill(1), [16], 'x');
    await ctx.read(scale(ctx, x, 2));
    ctx.device.destroy();
    const error = await ctx.lost;
    expect(error).toBeInstanceOf(DeviceLostError);
    expect(error).toBeInstanceOf(EngineError);
    expect(ctx.isLost).toBe(true);
    expect(() => scale(ctx, x, 2)).toThrow(DeviceLostError);
    await expect(ctx.read(x)).rejects.toBeInstanceOf(DeviceLostError);
    await ctx.destroy();
  });
});

describe('shader compile errors', () => {
  it('report the compiler message and are not cached', async () => {
    const ctx = await gpuContext();
    const broken = () =>
      ctx.dispatch({ op: 'broken', variant: 'v', code: () => '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }', uniforms: new Uint32Array(4), bindings: [], workgroups: [1] });
    broken();
    await expect(ctx.sync()).rejects.toThrow(/shader broken\/v/);
    const compiles = ctx.pipelines.compiles;
    broken();
    expect(ctx.pipelines.compiles).toBe(compiles + 1);
    await expect(ctx.sync()).rejects.toThrow(/GPU error/);
    // The context keeps working for valid work afterwards.
    const x = ctx.upload(new Float32Array([1, 2, 3]), [3], 'x');
    expect(Array.from(await ctx.read(scale(ctx, x, 2)))).toEqual([2, 4, 6]);
    ctx.release(x);
  });
});
