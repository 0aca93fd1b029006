/**
 * LayerNorm over the last dimension (the transformer blocks' norm1/2/3, CLIP's layer norms):
 *
 *   y[r, c] = (x[r, c] − μ_r) / √(σ²_r + eps) · gamma[c] + beta[c],   μ_r, σ²_r the mean and biased variance of row r
 *
 * x is f32 [..., C], gamma and beta f32 [C]. Statistics are f32 and two-pass (mean, then the centred sum of
 * squares), so a row with a large common offset loses no digits to cancellation. One workgroup per row; its size
 * follows C and is part of the pipeline key. The result may go to a channel slice of a wider tensor (`out`).
 */
import source from '../../shaders/layer-norm.wgsl?raw';
import { resolveOutput, uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { isChannelSlice, numel, shapeString, type Output, type Tensor } from '../gpu/tensor';

export interface LayerNormOptions {
  /** Added to the variance (PyTorch's default 1e-5). */
  eps?: number;
  out?: Output;
}

/** About 8 channels per thread, between 32 and 256 threads. */
function workgroupSize(channels: number): number {
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(channels / 8)))));
}

export function layerNorm(ctx: GpuContext, x: Tensor, gamma: Tensor, beta: Tensor, opts: LayerNormOptions = {}): Tensor {
  const eps = opts.eps ?? 1e-5;
  const channels = x.shape[x.shape.length - 1] ?? 0;
  if (x.format !== 'f32' || channels === 0) throw new ShapeError(`layer-norm: needs an f32 tensor [..., C] with C > 0, got ${x.format} ${shapeString(x.shape)}`);
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.format !== 'f32' || t.shape.length !== 1 || t.shape[0] !== channels) {
      throw new ShapeError(`layer-norm: ${name} must be f32 [${channels}] for input ${shapeString(x.shape)}, got ${t.format} ${shapeString(t.shape)}`);
    }
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new ShapeError(`layer-norm: eps must be a finite number ≥ 0, got ${eps}`);
  const target = opts.out && (isChannelSlice(opts.out) ? opts.out.tensor : opts.out);
  if (target?.buffer === x.buffer) throw new ShapeError(`layer-norm: cannot run in place (output ${target.label} is the input); pass another output`);
  const rows = numel(x.shape) / channels;
  const o = resolveOutput(ctx, x.shape, opts.out, 'layer-norm');
  const wg = workgroupSize(channels);
  ctx.dispatch({
    op: 'layer-norm',
    variant: `wg${wg}`,
    code: () => source,
    constants: { WG: wg },
    uniforms: uniforms([
      ['u32', rows],
      ['u32', channels],
      ['u32', o.channelOffset],
      ['u32', o.channelStride],
      ['f32', eps],
    ]),
    bindings: [x, gamma, beta, o.tensor],
    workgroups: ctx.grid(rows),
  });
  return o.tensor;
}
