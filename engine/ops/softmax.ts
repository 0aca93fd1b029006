/**
 * Softmax over the last dimension of an f32 tensor [..., L]:
 *
 *   y[r, i] = exp(x[r, i] − m_r) / Σ_j exp(x[r, j] − m_r),   m_r = max_j x[r, j]
 *
 * One workgroup per row; rows of any length (each thread folds its strided share into an online max/sum pair,
 * merged across the workgroup). Subtracting the row maximum keeps every exp ≤ 1, and all sums are f32. The
 * workgroup size follows the row length (32 threads for CLIP's 77 tokens, 256 for 4096-token attention rows) and is
 * part of the pipeline key. The result may go to a channel slice of a wider tensor (`out`).
 */
import source from '../../shaders/softmax.wgsl?raw';
import { resolveOutput, uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { isChannelSlice, numel, shapeString, type Output, type Tensor } from '../gpu/tensor';

/** About 8 elements per thread, between one and eight 32-wide waves. */
function workgroupSize(len: number): number {
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(len / 8)))));
}

export function softmax(ctx: GpuContext, x: Tensor, out?: Output): Tensor {
  const len = x.shape[x.shape.length - 1] ?? 0;
  if (x.format !== 'f32' || len === 0) throw new ShapeError(`softmax: needs an f32 tensor with a non-empty last dimension, got ${x.format} ${shapeString(x.shape)}`);
  const target = out && (isChannelSlice(out) ? out.tensor : out);
  if (target?.buffer === x.buffer) throw new ShapeError(`softmax: cannot run in place (output ${target.label} is the input); pass another output`);
  const rows = numel(x.shape) / len;
  const o = resolveOutput(ctx, x.shape, out, 'softmax');
  const wg = workgroupSize(len);
  ctx.dispatch({
    op: 'softmax',
    variant: `wg${wg}`,
    code: () => source,
    constants: { WG: wg },
    uniforms: uniforms([
      ['u32', rows],
      ['u32', len],
      ['u32', o.channelOffset],
      ['u32', o.channelStride],
    ]),
    bindings: [x, o.tensor],
    workgroups: ctx.grid(rows),
  });
  return o.tensor;
}
