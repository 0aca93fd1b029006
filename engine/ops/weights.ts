/**
 * What an op that reads a weight needs from its storage format: the WGSL defines for `shaders/weights.wgsl`, the
 * bindings (weight at 1, scales at 2 when the format has them), and the words-per-row uniform.
 */
import weightsWgsl from '../../shaders/weights.wgsl?raw';
import { UnsupportedFormatError, ShapeError } from '../gpu/errors';
import type { StorageFormat, Tensor } from '../gpu/tensor';
import { rowWords } from '../quant/pack';

export { weightsWgsl };

export function weightDefines(format: StorageFormat): Record<string, boolean> {
  return {
    W_F32: format === 'f32',
    W_F16: format === 'f16',
    W_INT8: format === 'int8',
    W_INT4: format === 'int4',
    W_SCALED: format === 'int8' || format === 'int4',
  };
}

/** Binding slots 1 and 2 of a weight-reading op. */
export function weightBindings(w: Tensor): [Tensor, GPUBuffer | undefined] {
  const scaled = w.format === 'int8' || w.format === 'int4';
  if (scaled && !w.scales) throw new UnsupportedFormatError(`${w.label}: ${w.format} weight without scales`);
  return [w, scaled ? w.scales : undefined];
}

/** Checks that `w` is a [N, K] weight and returns N, K and its words per row. */
export function weightInfo(w: Tensor, op: string): { n: number; k: number; row: number } {
  if (w.shape.length !== 2) throw new ShapeError(`${op}: weight ${w.label} must be [N, K], got [${w.shape.join(',')}]`);
  const [n, k] = w.shape as [number, number];
  return { n, k, row: rowWords(w.format, k) };
}
