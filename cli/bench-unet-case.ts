/**
 * The bench-unet case (../shared/bench/bench-unet): a small SD-1.x-shaped UNet (blocks 32/64/128/128, batch 2,
 * 32×32 latents, 77 text tokens of width 128) with its input and the PyTorch reference output. Shared by the Node
 * suite (`npm run bench -- unet`) and the browser bench page (`npm run bench -- ort`), so both time exactly the
 * same evaluation: upload the NCHW inputs, compute the text's cross-attention keys/values, run the UNet, read the
 * NCHW output back. Nothing here touches Node or the DOM.
 */
import type { GpuContext } from '../engine/gpu/context';
import type { StorageFormat } from '../engine/gpu/tensor';
import { parseUNetConfig } from '../engine/models/config';
import type { ParamSource } from '../engine/models/params';
import { UNet } from '../engine/models/unet';
import { nchwToNhwc, nhwcToNchw } from '../engine/pipeline';
import { TableTuning, type TuningTable } from '../engine/tune/table';

export interface TensorRef {
  file: string;
  shape: number[];
}

/** case.json of the bench model. */
export interface BenchCase {
  sample: TensorRef;
  timestep: number;
  encoder_hidden_states: TensorRef;
  out: TensorRef;
}

export interface BenchInputs {
  /** NCHW [B, 4, h, w]. */
  sample: Float32Array;
  /** [B, 77, cross_attention_dim]. */
  text: Float32Array;
  /** The reference output, NCHW. */
  reference: Float32Array;
}

/** Reads a little-endian float32 file's bytes as a Float32Array (copied, so alignment never matters). */
export function floats(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** max |a − b| / max |b| and max |a − b|: the relative figure is the one our tests bound. */
export function errors(actual: Float32Array, expected: Float32Array): { maxAbs: number; relative: number } {
  if (actual.length !== expected.length) throw new Error(`output has ${actual.length} values, the reference ${expected.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return { maxAbs, relative: maxRef > 0 ? maxAbs / maxRef : maxAbs };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Our engine on the bench model, ready to evaluate. */
export class UNetBench {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly unet: UNet,
    private readonly benchCase: BenchCase,
    private readonly inputs: BenchInputs,
  ) {}

  static async open(
    ctx: GpuContext,
    configJson: unknown,
    weights: ParamSource,
    benchCase: BenchCase,
    inputs: BenchInputs,
    format: StorageFormat,
    tuning?: TuningTable,
  ): Promise<UNetBench> {
    // Before the load: the tuning table also picks each convolution's algorithm, fixed with its weight layout.
    if (tuning) ctx.tuning = new TableTuning(tuning);
    const config = parseUNetConfig(configJson);
    const unet = await UNet.load(ctx, config, weights, { format });
    return new UNetBench(ctx, unet, benchCase, inputs);
  }

  /** One evaluation from CPU inputs to the CPU output (NCHW), as a caller of the engine sees it. */
  async evaluate(): Promise<Float32Array> {
    const { ctx, unet, benchCase, inputs } = this;
    const [b, c, h, w] = benchCase.sample.shape as [number, number, number, number];
    const x = ctx.upload(nchwToNhwc(inputs.sample, c, h, w), [b, h, w, c], 'sample');
    const text = ctx.upload(inputs.text, benchCase.encoder_hidden_states.shape, 'text');
    const kv = unet.crossKV(ctx, text);
    const out = unet.forward(ctx, x, benchCase.timestep, kv);
    ctx.release(x, text);
    unet.releaseCrossKV(ctx, kv);
    const y = await ctx.read(out);
    ctx.release(out);
    return nhwcToNchw(y, benchCase.out.shape[1]!, h, w);
  }

  destroy(): void {
    this.unet.destroy();
  }
}
