/**
 * A handle to data on the GPU: a shape, a storage format, and the bytes of one buffer from an offset.
 *
 * Activations are always `f32`, row-major, channels last (NHWC for images, [batch, tokens, channels] for
 * sequences: the two are the same memory, so a transformer block needs no transpose).
 * Weights of a linear or convolution layer are a matrix [N, K] (output channel, then the reduction axis)
 * in one of the storage formats of `engine/quant`; quantised formats carry their scales in a second buffer.
 */
import { ShapeError } from './errors';

export type StorageFormat = 'f32' | 'f16' | 'int8' | 'int4';

export const STORAGE_FORMATS: readonly StorageFormat[] = ['f32', 'f16', 'int8', 'int4'];

export interface Tensor {
  readonly shape: readonly number[];
  readonly format: StorageFormat;
  readonly buffer: GPUBuffer;
  /** Start of the data in `buffer`, in bytes. */
  readonly byteOffset: number;
  /** Bytes of the data (for quantised formats: of the packed values, not the scales). */
  readonly byteLength: number;
  /** Per-row (`int8`) or per-block (`int4`) scales, f16 packed two per u32. */
  readonly scales?: GPUBuffer;
  readonly label: string;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Channels [offset, offset + C) of a tensor whose last dimension is wider: the UNet's skip connections join two
 * tensors along channels, and the producers of both halves write straight into their part of the joined buffer
 * instead of a concat copying them there.
 */
export interface ChannelSlice {
  readonly tensor: Tensor;
  readonly offset: number;
}

/** Where an op writes its result: a fresh pooled tensor, a given tensor, or a channel slice of a wider one. */
export type Output = Tensor | ChannelSlice;

export function isChannelSlice(out: Output): out is ChannelSlice {
  return 'tensor' in out;
}

/** The same data under another shape with as many elements (NHWC [B,H,W,C] ↔ [B, H·W, C] is free). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== numel(t.shape)) throw new ShapeError(`view: ${shapeString(t.shape)} has no view ${shapeString(shape)}`);
  return { ...t, shape: [...shape] };
}
