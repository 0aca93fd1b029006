/**
 * The `GPU` object for Node, from Dawn's `webgpu` package. Only the command line, tests and benchmarks import this.
 *
 * On a machine without a GPU driver, Vulkan has no ICD and Dawn finds no adapter; Debian's `chromium` package ships
 * SwiftShader's Vulkan ICD, which we point the Vulkan loader at when no system ICD is installed (the loader reads
 * `VK_ICD_FILENAMES` when Dawn creates its instance, so setting it here, before `create()`, is early enough).
 */
import { existsSync, readdirSync } from 'node:fs';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const SYSTEM_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'];

function hasSystemIcd(): boolean {
  return SYSTEM_ICD_DIRS.some((dir) => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.json')));
}

/**
 * Dawn tears down its instance when the `GPU` object is garbage-collected, even while devices made from it are still
 * in use (the process then aborts inside Dawn), so the one instance lives in this module for the life of the process.
 */
let instance: GPU | undefined;

export async function nodeGpu(): Promise<GPU> {
  if (instance) return instance;
  if (!process.env.VK_ICD_FILENAMES && !hasSystemIcd() && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const webgpu = await import('webgpu');
  Object.assign(globalThis, webgpu.globals);
  // Browsers round GPU timestamps to about 0.1 ms (a privacy measure against timing attacks); in Node there is no
  // page to protect, and the profiler and auto-tuner need the full resolution to tell sub-millisecond kernels apart.
  instance = webgpu.create(['disable-dawn-features=timestamp_quantization']);
  return instance;
}
