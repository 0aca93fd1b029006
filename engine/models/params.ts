/**
 * Loads a model's parameters by checkpoint name into GPU tensors, in the layouts and storage formats the ops use.
 *
 * Model code asks for each parameter with the shape its config implies (`linear('attn1.to_out.0', C, C)`); the
 * loader checks the checkpoint has exactly that shape, converts it (PyTorch OIHW convolutions to our [Cout, 9·Cin]
 * matrix, q/k/v projections joined into one matrix so one GEMM makes all three), packs it into the chosen format
 * and uploads it. It records every name it consumed, so a test can prove a checkpoint is used completely.
 *
 * In dry mode nothing is read: buffers are only reserved (on a plan device, not even that), which checks a
 * checkpoint's names and shapes and sizes a model without its weights.
 *
 * Precision: matrices of linear and convolution layers take the chosen format; biases and norm parameters stay
 * f32 (tiny, and quantising them shifts whole channels); embedding tables take at least f16.
 */
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { shapeString, type StorageFormat, type Tensor } from '../gpu/tensor';
import { convWeightMatrix, preferredConvAlgorithm, WINOGRAD } from '../ops/conv2d';
import { winogradMatrices, winogradWeight } from '../ops/winograd-common';
import { packWeight } from '../quant/pack';

/** Where parameters come from: a safetensors file, several of them, or an in-memory map in tests. */
export interface ParamSource {
  /** The stored shape of `name`, or undefined when the checkpoint has no such tensor. */
  shape(name: string): readonly number[] | undefined;
  /** The values of `name` as f32 (converted from f16/bf16 as stored). */
  read(name: string): Promise<Float32Array>;
  names(): readonly string[];
}

export interface LoadOptions {
  /** Storage format of the matrices of linear and convolution layers. */
  format: StorageFormat;
  /**
   * How 3×3 convolutions run: 'auto' takes Winograd F(2×2,3×3) or F(4×4,3×3) where it pays (the context's tuning
   * table decides, else `preferredConvAlgorithm`: F(2×2) for stride 1 and enough input channels), 'direct' never.
   * The weight is stored in the chosen algorithm's layout.
   */
  conv?: 'auto' | 'direct';
  /** Check names and shapes and reserve buffers, without reading any data. */
  dry?: boolean;
}

export interface Linear {
  w: Tensor;
  b?: Tensor;
}

export interface Conv3x3 {
  /** [Cout, 9·Cin] with k = (ky·3 + kx)·Cin + ci (direct), or [16 or 36, Cout, Cin] Winograd-transformed. */
  w: Tensor;
  b?: Tensor;
  cin: number;
  cout: number;
}

export interface Norm {
  gamma: Tensor;
  beta: Tensor;
}

const atLeastF16 = (format: StorageFormat): StorageFormat => (format === 'f32' ? 'f32' : 'f16');

export class ParamLoader {
  private readonly consumed = new Set<string>();
  readonly tensors: Tensor[] = [];

  constructor(
    private readonly ctx: GpuContext,
    private readonly source: ParamSource,
    readonly options: LoadOptions,
    /** Prefix of every name in the checkpoint (e.g. `text_model.` in older CLIP files). */
    private readonly prefix = '',
  ) {}

  /** A loader for names under `scope.` (the candle `vb.pp()` idea: module fields equal checkpoint keys). */
  scoped(scope: string): ParamLoader {
    const child = Object.create(this) as ParamLoader;
    Object.defineProperty(child, 'prefix', { value: `${this.prefix}${scope}.` });
    return child;
  }

  /** A loader (same names and bookkeeping) whose 3×3 convolutions run direct unless the tuning table says otherwise. */
  preferDirect(): ParamLoader {
    const child = Object.create(this) as ParamLoader;
    Object.defineProperty(child, 'convDefault', { value: 'direct' });
    return child;
  }

  /** The algorithm of 3×3 convolutions the tuning table does not decide (`preferDirect`, else by shape). */
  private readonly convDefault?: 'direct';

  /** Whether the checkpoint has `name` (for optional parameters). */
  has(name: string): boolean {
    return this.source.shape(this.prefix + name) !== undefined;
  }

  /** An f32 vector [n] (bias, norm weight). */
  async vector(name: string, n: number): Promise<Tensor> {
    const data = await this.take(name, [[n]]);
    return this.store([n], 'f32', data, name);
  }

  /** An f32 tensor of any shape, uploaded as is (position embeddings). */
  async dense(name: string, shape: readonly number[]): Promise<Tensor> {
    const data = await this.take(name, [shape]);
    const n = shape[0]!;
    return this.store([n, shape.slice(1).reduce((a, b) => a * b, 1)], 'f32', data, name);
  }

  /** An embedding table [rows, dim] in at least f16. */
  async embedding(name: string, rows: number, dim: number): Promise<Tensor> {
    const data = await this.take(name, [[rows, dim]]);
    return this.store([rows, dim], atLeastF16(this.options.format), data, name);
  }

  async norm(name: string, c: number): Promise<Norm> {
    return { gamma: await this.vector(`${name}.weight`, c), beta: await this.vector(`${name}.bias`, c) };
  }

  /** A linear layer [n, k] (also a 1×1 convolution stored as [n, k, 1, 1]). */
  async linear(name: string, n: number, k: number, bias = true): Promise<Linear> {
    const data = await this.take(`${name}.weight`, [[n, k], [n, k, 1, 1]]);
    const w = this.store([n, k], this.options.format, data, `${name}.weight`);
    return { w, ...(bias ? { b: await this.vector(`${name}.bias`, n) } : {}) };
  }

  /**
   * Several linear layers with the same input joined along their outputs (q, k, v → one [Σn, k] matrix), so one
   * GEMM computes them all; biases are joined the same way (all or none must have one).
   */
  async joinedLinear(names: readonly string[], ns: readonly number[], k: number, bias: boolean): Promise<Linear> {
    const total = ns.reduce((a, b) => a + b, 0);
    const parts = await Promise.all(names.map((name, i) => this.take(`${name}.weight`, [[ns[i]!, k], [ns[i]!, k, 1, 1]])));
    const joined = this.options.dry ? undefined : concat(parts as Float32Array[]);
    const label = names.join('+');
    const w = this.store([total, k], this.options.format, joined, `${label}.weight`);
    if (!bias) return { w };
    const biases = await Promise.all(names.map((name, i) => this.take(`${name}.bias`, [[ns[i]!]])));
    return { w, b: this.store([total], 'f32', this.options.dry ? undefined : concat(biases as Float32Array[]), `${label}.bias`) };
  }

  /** A 3×3 convolution stored as [cout, cin, 3, 3], to run with `stride`. */
  async conv3x3(name: string, cout: number, cin: number, stride: 1 | 2 = 1, bias = true): Promise<Conv3x3> {
    const data = await this.take(`${name}.weight`, [[cout, cin, 3, 3]]);
    const { format } = this.options;
    const algorithm = this.ctx.tuning?.convAlgorithm({ op: 'conv-algorithm', format, cin, cout, stride }) ?? this.convDefault ?? preferredConvAlgorithm(cin, stride);
    const winograd = this.options.conv !== 'direct' && stride === 1 && algorithm !== 'direct';
    let w: Tensor;
    if (winograd) {
      const label = `${this.prefix}${name}.weight`;
      const variant = WINOGRAD[algorithm];
      const n = winogradMatrices(variant);
      w = data ? winogradWeight(variant, this.ctx, data, cout, cin, format, label) : { ...this.ctx.reserveWeight([n * cout, cin], format, label), shape: [n, cout, cin] };
      this.tensors.push(w);
    } else w = this.store([cout, 9 * cin], format, data && convWeightMatrix(data, cout, cin), `${name}.weight`);
    return { w, cin, cout, ...(bias ? { b: await this.vector(`${name}.bias`, cout) } : {}) };
  }

  /** Checkpoint names (under this loader's prefix) that no parameter request consumed. */
  unused(): string[] {
    return this.source.names().filter((n) => n.startsWith(this.prefix) && !this.consumed.has(n));
  }

  /** Frees every tensor this loader made. */
  destroy(): void {
    for (const t of this.tensors.splice(0)) this.ctx.destroyWeight(t);
  }

  private async take(name: string, accepted: readonly (readonly number[])[]): Promise<Float32Array | undefined> {
    const full = this.prefix + name;
    const shape = this.source.shape(full);
    if (!shape) throw new ShapeError(`The model file has no tensor "${full}" (expected ${shapeString(accepted[0]!)}): it does not match its config, or it is not a supported Stable Diffusion checkpoint.`);
    if (!accepted.some((a) => a.length === shape.length && a.every((d, i) => d === shape[i]))) {
      throw new ShapeError(`Tensor "${full}" has shape ${shapeString(shape)} but the config implies ${shapeString(accepted[0]!)}: the model file does not match its config.`);
    }
    this.consumed.add(full);
    return this.options.dry ? undefined : this.source.read(full);
  }

  private store(shape: readonly [number, number] | readonly [number], format: StorageFormat, data: Float32Array | undefined, name: string): Tensor {
    const [n, k] = shape.length === 1 ? [1, shape[0]] : shape;
    const label = this.prefix + name;
    let t: Tensor;
    if (!data) t = this.ctx.reserveWeight([n, k], format, label);
    else {
      const packed = packWeight(data, n, k, format);
      t = this.ctx.weight([n, k], format, packed.data, label, packed.scales);
    }
    const tensor = shape.length === 1 ? { ...t, shape: [k] } : t;
    this.tensors.push(tensor);
    return tensor;
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
