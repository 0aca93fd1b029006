/**
 * GEGLU, the gated activation of diffusers' `GEGLU` after its projection (the transformer block's feed-forward):
 *
 *   x [..., 2F] → hidden = x[..., :F], gate = x[..., F:],   y = hidden · gelu(gate)   → [..., F]
 *
 * with the exact (erf) GELU of engine/ops/unary.ts. f32 in and out; one kernel replaces chunk + gelu + mul, so the
 * two halves are never copied apart. The result may go to a channel slice of a wider tensor (`out`).
 */
import activations from '../../shaders/activations.wgsl?raw';
import source from '../../shaders/geglu.wgsl?raw';
import { resolveOutput, uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { isChannelSlice, numel, shapeString, type Output, type Tensor } from '../gpu/tensor';

const WG = 256;
const PER_THREAD = 4;

export function geglu(ctx: GpuContext, x: Tensor, out?: Output): Tensor {
  const width = x.shape[x.shape.length - 1] ?? 0;
  if (x.format !== 'f32' || width === 0 || width % 2 !== 0) {
    throw new ShapeError(`geglu: needs an f32 tensor [..., 2F] with an even last dimension, got ${x.format} ${shapeString(x.shape)}`);
  }
  const target = out && (isChannelSlice(out) ? out.tensor : out);
  if (target?.buffer === x.buffer) throw new ShapeError(`geglu: cannot run in place (output ${target.label} is the input); pass another output`);
  const features = width / 2;
  const shape = [...x.shape.slice(0, -1), features];
  const count = numel(shape);
  const o = resolveOutput(ctx, shape, out, 'geglu');
  ctx.dispatch({
    op: 'geglu',
    variant: `wg${WG}`,
    code: () => activations + source,
    constants: { WG },
    uniforms: uniforms([
      ['u32', count],
      ['u32', features],
      ['u32', o.channelOffset],
      ['u32', o.channelStride],
    ]),
    bindings: [x, o.tensor],
    workgroups: ctx.grid(Math.ceil(count / (WG * PER_THREAD))),
  });
  return o.tensor;
}
