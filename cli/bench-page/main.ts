/**
 * The bench page of `npm run bench -- ort`: our engine and onnxruntime-web (WebGPU execution provider) on the same
 * bench-unet case in one Chromium page, each on its own GPUDevice from the same adapter. cli/bench-ort.ts serves it
 * with the model files and ORT's own dist files, and alternates `bench.ours()` and `bench.ort()`.
 *
 * Every compute dispatch on the page is counted (both engines go through `GPUComputePassEncoder`), which is how we
 * know ORT really ran its kernels on WebGPU rather than falling back to its wasm CPU kernels.
 */
import type * as Ort from 'onnxruntime-web';
import { GpuContext } from '../../engine/gpu/context';
import { adapterName } from '../../engine/gpu/device';
import type { StorageFormat } from '../../engine/gpu/tensor';
import { openSafetensors } from '../../engine/io/safetensors';
import { safetensorsParams } from '../../engine/models/weights-source';
import type { TuningTable } from '../../engine/tune/table';
import { errors, floats, UNetBench, type BenchCase, type BenchInputs } from '../bench-unet-case';

export interface EvaluationResult {
  ms: number;
  /** Compute dispatches recorded during the evaluation. */
  dispatches: number;
  maxAbs: number;
  relative: number;
}

export interface BenchSetup {
  ours: { adapter: string; weights: StorageFormat; loadMs: number };
  ort: { adapter: string; version: string; bundle: string; loadMs: number; executionProviders: string[] };
}

export interface BenchPage {
  init(options: { weights: StorageFormat; ortBundle: string; tuning?: TuningTable }): Promise<BenchSetup>;
  ours(): Promise<EvaluationResult>;
  ort(): Promise<EvaluationResult>;
}

let dispatches = 0;
const pass = GPUComputePassEncoder.prototype;
const direct = pass.dispatchWorkgroups;
const indirect = pass.dispatchWorkgroupsIndirect;
pass.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...args: Parameters<typeof direct>) {
  dispatches++;
  return direct.apply(this, args);
};
pass.dispatchWorkgroupsIndirect = function (this: GPUComputePassEncoder, ...args: Parameters<typeof indirect>) {
  dispatches++;
  return indirect.apply(this, args);
};

async function fetchBytes(path: string): Promise<Uint8Array> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function timed(run: () => Promise<Float32Array>, reference: Float32Array): Promise<EvaluationResult> {
  const before = dispatches;
  const start = performance.now();
  const output = await run();
  const ms = performance.now() - start;
  return { ms, dispatches: dispatches - before, ...errors(output, reference) };
}

let benchCase: BenchCase;
let inputs: BenchInputs;
let ours: UNetBench;
let session: Ort.InferenceSession;
let ort: typeof Ort;

const page: BenchPage = {
  async init({ weights, ortBundle, tuning }) {
    benchCase = JSON.parse(new TextDecoder().decode(await fetchBytes('/bench/case.json'))) as BenchCase;
    inputs = {
      sample: floats(await fetchBytes(`/bench/${benchCase.sample.file}`)),
      text: floats(await fetchBytes(`/bench/${benchCase.encoder_hidden_states.file}`)),
      reference: floats(await fetchBytes(`/bench/${benchCase.out.file}`)),
    };

    let start = performance.now();
    const ctx = await GpuContext.create(navigator.gpu);
    const config = JSON.parse(new TextDecoder().decode(await fetchBytes('/bench/unet/config.json'))) as unknown;
    const file = await openSafetensors(await fetchBytes('/bench/unet/diffusion_pytorch_model.safetensors'), 'bench-unet');
    ours = await UNetBench.open(ctx, config, safetensorsParams(file), benchCase, inputs, weights, tuning);
    const oursLoad = performance.now() - start;

    start = performance.now();
    ort = (await import(/* @vite-ignore */ `/ort/${ortBundle}`)) as typeof Ort;
    ort.env.wasm.wasmPaths = '/ort/';
    const executionProviders = ['webgpu'];
    session = await ort.InferenceSession.create('/bench/unet.onnx', { executionProviders, graphOptimizationLevel: 'all' });
    const device = await ort.env.webgpu.device;
    const ortLoad = performance.now() - start;
    return {
      ours: { adapter: adapterName(ctx.adapter), weights, loadMs: oursLoad },
      ort: {
        adapter: [device.adapterInfo.vendor, device.adapterInfo.architecture, device.adapterInfo.description].filter(Boolean).join(' '),
        version: ort.env.versions.web ?? ort.env.versions.common,
        bundle: ortBundle,
        loadMs: ortLoad,
        executionProviders,
      },
    };
  },

  ours: () => timed(() => ours.evaluate(), inputs.reference),

  ort: () =>
    timed(async () => {
      const feeds = {
        sample: new ort.Tensor('float32', inputs.sample, benchCase.sample.shape),
        timestep: new ort.Tensor('int64', BigInt64Array.of(BigInt(benchCase.timestep)), [1]),
        encoder_hidden_states: new ort.Tensor('float32', inputs.text, benchCase.encoder_hidden_states.shape),
      };
      const result = await session.run(feeds);
      const out = result[session.outputNames[0]!]!;
      const data = (await out.getData()) as Float32Array;
      out.dispose();
      return data;
    }, inputs.reference),
};

(globalThis as unknown as { bench: BenchPage }).bench = page;
