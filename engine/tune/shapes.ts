/**
 * What the tuner tunes, as the ops see it: the shape of one call of a tunable op (GEMM, 3×3 convolution, attention)
 * and the lookup an op makes before it runs (`OpTuning`, held by the `GpuContext`). A shape's key is the part of the
 * call that decides which configuration is fastest; two calls with one key share their tuned configuration.
 *
 * Only types and pure functions live here: the ops import it, so it must not import them back (types excepted).
 */
import type { StorageFormat } from '../gpu/tensor';
import type { AttentionTile } from '../ops/attention';
import type { ConvPadding, ConvTile, ConvWeightAlgorithm } from '../ops/conv2d';
import type { GemmTile } from '../ops/gemm';

/** A `linear` (weight in a storage format) or `matmul` (f32 B, [N, K] or, 'kn', [K, N]) call. */
export interface GemmShape {
  op: 'gemm';
  b: StorageFormat | 'kn';
  batch: number;
  m: number;
  k: number;
  n: number;
}

/** A 3×3 convolution call; `algorithm` is the layout its weight was loaded in. */
export interface ConvShape {
  op: 'conv';
  format: StorageFormat;
  algorithm: ConvWeightAlgorithm;
  batch: number;
  /** Input height and width (before the fused upsampling). */
  h: number;
  w: number;
  cin: number;
  cout: number;
  stride: 1 | 2;
  upsample: boolean;
  padding: ConvPadding;
}

/** The part of a convolution a loader knows when it prepares the weight: it decides the weight's algorithm. */
export interface ConvWeightShape {
  op: 'conv-algorithm';
  format: StorageFormat;
  cin: number;
  cout: number;
  stride: 1 | 2;
}

export interface AttentionShape {
  op: 'attention';
  batch: number;
  tq: number;
  tk: number;
  heads: number;
  headDim: number;
  causal: boolean;
}

export type TunableShape = GemmShape | ConvShape | ConvWeightShape | AttentionShape;

/** A tuned attention configuration: the tile, and a per-dispatch budget (query chunk) no larger than the caller's. */
export interface AttentionChoice {
  tile: AttentionTile;
  budgetBytes?: number;
}

/**
 * The lookup ops make: a tuned configuration for this call, or undefined to run their default. A tuning table
 * answers from its entries; the tuner's recorder answers undefined and notes the shape.
 */
export interface OpTuning {
  gemm(shape: GemmShape): GemmTile | undefined;
  conv(shape: ConvShape): ConvTile | undefined;
  convAlgorithm(shape: ConvWeightShape): ConvWeightAlgorithm | undefined;
  attention(shape: AttentionShape): AttentionChoice | undefined;
}

/** The key of a shape: op, then every dimension that can change which configuration is fastest. */
export function shapeKey(s: TunableShape): string {
  switch (s.op) {
    case 'gemm':
      return `gemm:${s.b}:${s.batch}x${s.m}x${s.k}x${s.n}`;
    case 'conv':
      return `conv:${s.format}:${s.algorithm}:${s.batch}x${s.h}x${s.w}x${s.cin}>${s.cout}:s${s.stride}${s.upsample ? ':up' : ''}${s.padding === 'symmetric' ? '' : ':br'}`;
    case 'conv-algorithm':
      return `conv-algorithm:${s.format}:${s.cin}>${s.cout}:s${s.stride}`;
    case 'attention':
      return `attention:${s.batch}x${s.tq}x${s.tk}:h${s.heads}x${s.headDim}${s.causal ? ':causal' : ''}`;
  }
}

/** A short human-readable description of a shape for tables and progress lines. */
export function describeShape(s: TunableShape): string {
  switch (s.op) {
    case 'gemm':
      return `GEMM ${s.batch > 1 ? `${s.batch}× ` : ''}${s.m}×${s.k}×${s.n} (M×K×N), ${s.b === 'kn' ? 'f32 [K,N]' : `${s.b} B`}`;
    case 'conv':
      return `conv 3×3 ${s.algorithm} ${s.batch}×${s.h}×${s.w}×${s.cin}→${s.cout}${s.stride === 2 ? ' stride 2' : ''}${s.upsample ? ' upsample' : ''}, ${s.format}`;
    case 'conv-algorithm':
      return `conv 3×3 algorithm ${s.cin}→${s.cout}${s.stride === 2 ? ' stride 2' : ''}, ${s.format}`;
    case 'attention':
      return `attention ${s.batch}×${s.tq}×${s.tk}, ${s.heads} heads × ${s.headDim}${s.causal ? ', causal' : ''}`;
  }
}

/** Multiply-adds ×2 of one call: how much a shape weighs in a model's time, for ordering the search. */
export function shapeFlops(s: TunableShape): number {
  switch (s.op) {
    case 'gemm':
      return 2 * s.batch * s.m * s.k * s.n;
    case 'conv': {
      const up = s.upsample ? 2 : 1;
      return (2 * s.batch * (s.h * up) * (s.w * up) * 9 * s.cin * s.cout) / (s.stride * s.stride);
    }
    case 'conv-algorithm':
      return 0;
    case 'attention':
      return 4 * s.batch * s.tq * s.tk * s.heads * s.headDim;
  }
}
