/**
 * A `GPUDevice` that does no GPU work: buffers are sizes, pipelines are names, dispatches are counted and dropped.
 *
 * Wrapped in a `GpuContext`, it runs the real model code unchanged, so the buffer pool and the profiler report what
 * a real run would allocate and dispatch (peak bytes, largest buffer, dispatches per UNet evaluation) for full-size
 * models on a machine that could not hold them, and a weight loader in dry mode checks a checkpoint's tensor
 * names and shapes without reading or allocating weights.
 */
import type { AdapterSummary } from './device';

export interface PlanLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** Limits of a typical desktop adapter; plan mode may be asked for others (e.g. 128 MiB bindings). */
export const PLAN_LIMITS: PlanLimits = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 32 };

/** WebGPU's default limits, which every adapter grants: what a device requested without raising them gets. */
export const WEBGPU_DEFAULT_LIMITS: PlanLimits = { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28 };

export interface PlanStats {
  /** The largest buffer created, in bytes. */
  largestBuffer: number;
  largestBufferLabel: string;
}

/** WebGPU's flag constants (fixed by the spec), for runtimes with no WebGPU at all, where plan mode still runs. */
function ensureConstants(): void {
  const g = globalThis as Record<string, unknown>;
  g.GPUBufferUsage ??= { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 };
  g.GPUMapMode ??= { READ: 1, WRITE: 2 };
}

export function createPlanDevice(limits: PlanLimits = PLAN_LIMITS): { device: GPUDevice; summary: AdapterSummary; stats: PlanStats } {
  ensureConstants();
  const stats: PlanStats = { largestBuffer: 0, largestBufferLabel: '' };
  const allLimits: Record<string, number> = {
    ...limits,
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxComputeWorkgroupSizeZ: 64,
    maxComputeWorkgroupsPerDimension: 65535,
    maxStorageBuffersPerShaderStage: 10,
    maxUniformBufferBindingSize: 65536,
    minUniformBufferOffsetAlignment: 256,
    minStorageBufferOffsetAlignment: 256,
  };
  const noop = () => undefined;
  const pass = { setPipeline: noop, setBindGroup: noop, dispatchWorkgroups: noop, end: noop };
  const device = {
    label: 'plan',
    limits: allLimits,
    features: new Set<string>(),
    lost: new Promise(noop),
    onuncapturederror: null,
    queue: { writeBuffer: noop, submit: noop, onSubmittedWorkDone: () => Promise.resolve() },
    createBuffer(descriptor: GPUBufferDescriptor) {
      if (descriptor.size > stats.largestBuffer) {
        stats.largestBuffer = descriptor.size;
        stats.largestBufferLabel = descriptor.label ?? '';
      }
      return {
        size: descriptor.size,
        label: descriptor.label ?? '',
        usage: descriptor.usage,
        destroy: noop,
        unmap: noop,
        mapAsync: () => Promise.resolve(),
        getMappedRange: () => new ArrayBuffer(0),
      };
    },
    createShaderModule: (d: GPUShaderModuleDescriptor) => ({ label: d.label ?? '' }),
    createComputePipeline: (d: GPUComputePipelineDescriptor) => ({ label: d.label ?? '', getBindGroupLayout: () => ({}) }),
    createBindGroup: () => ({}),
    pushErrorScope: noop,
    popErrorScope: () => Promise.resolve(null),
    createQuerySet: () => ({ destroy: noop }),
    createCommandEncoder: () => ({
      beginComputePass: () => pass,
      copyBufferToBuffer: noop,
      clearBuffer: noop,
      resolveQuerySet: noop,
      finish: () => ({}),
    }),
    destroy: noop,
  };
  const summary: AdapterSummary = {
    vendor: 'plan',
    architecture: '',
    device: '',
    description: 'no GPU work: plan mode',
    features: { shaderF16: false, subgroups: false, timestampQuery: false },
    limits: allLimits,
  };
  return { device: device as unknown as GPUDevice, summary, stats };
}
