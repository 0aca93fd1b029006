/**
 * Device acquisition, the same path for the browser (`navigator.gpu`) and Node (the `webgpu` package's `create()`).
 *
 * We ask for the adapter's own limits where they matter to us (buffer sizes, workgroup storage and size, storage
 * buffers per stage): the defaults (128 MiB bindings, 16 KiB workgroup memory) are far below what most desktop GPUs
 * offer, and Stable Diffusion's tensors need the room. Optional features are turned on when the adapter has them.
 */
import { WebGPUNotFoundError } from './errors';

export interface AdapterFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: AdapterFeatures;
  limits: Record<string, number>;
}

const LIMITS_WE_RAISE = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Leave optional features off, e.g. to test the path adapters without them take. */
  disableFeatures?: readonly GPUFeatureName[];
  /**
   * Keep WebGPU's default buffer limits (128 MiB bindings, 256 MiB buffers) instead of the adapter's: runs as an
   * adapter that offers no more would (benchmarks, memory checks).
   */
  defaultBufferLimits?: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  summary: AdapterSummary;
}

export async function acquireDevice(gpu: GPU | undefined, options: AcquireOptions = {}): Promise<AcquiredDevice> {
  if (!gpu) throw new WebGPUNotFoundError('navigator.gpu is missing');
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new WebGPUNotFoundError('no GPU adapter was found');
  const wanted: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
  const requiredFeatures = wanted.filter(
    (f) => adapter.features.has(f) && !(options.disableFeatures ?? []).includes(f),
  );
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS_WE_RAISE) {
    if (options.defaultBufferLimits && (name === 'maxStorageBufferBindingSize' || name === 'maxBufferSize')) continue;
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'sd-engine' });
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of LIMITS_WE_RAISE) limits[name] = (device.limits as unknown as Record<string, number>)[name]!;
  const summary: AdapterSummary = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    features: {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    },
    limits,
  };
  return { device, adapter, summary };
}

/** A one-line name for reports: "vendor architecture (description)". */
export function adapterName(summary: AdapterSummary): string {
  const parts = [summary.vendor, summary.architecture].filter(Boolean).join(' ');
  const desc = summary.description || summary.device;
  return [parts || 'unknown adapter', desc ? `(${desc})` : ''].filter(Boolean).join(' ');
}
