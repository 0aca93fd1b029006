/**
 * Elementwise activations, f32 in and out, over a tensor of any shape (channels last):
 *
 *   silu(x) = x · σ(x)        gelu(x) = x · Φ(x) = x · (1 + erf(x/√2)) / 2        quickGelu(x) = x · σ(1.702 x)
 *
 * `gelu` is the exact (erf) GELU of PyTorch's default; WGSL has no erf, so erfc comes from a Chebyshev fit with
 * relative error < 1.2e-7 (shaders/activations.wgsl), which keeps GELU of negative inputs accurate relative to its
 * own small value. σ is evaluated from exp(−|x|), so no input overflows. The result may go to a channel slice of a
 * wider tensor (`out`), e.g. one half of a skip-connection concat.
 */
import activations from '../../shaders/activations.wgsl?raw';
import source from '../../shaders/unary.wgsl?raw';
import { resolveOutput, uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { isChannelSlice, numel, shapeString, type Output, type Tensor } from '../gpu/tensor';
import { preprocess } from '../gpu/wgsl';

const WG = 256;
const PER_THREAD = 4;

type Activation = 'silu' | 'gelu' | 'quick-gelu';

function run(ctx: GpuContext, kind: Activation, x: Tensor, out: Output | undefined): Tensor {
  if (x.format !== 'f32' || x.shape.length === 0) throw new ShapeError(`${kind}: needs an f32 tensor, got ${x.format} ${shapeString(x.shape)}`);
  const target = out && (isChannelSlice(out) ? out.tensor : out);
  if (target?.buffer === x.buffer) throw new ShapeError(`${kind}: cannot run in place (output ${target.label} is the input); pass another output`);
  const channels = x.shape[x.shape.length - 1]!;
  const count = numel(x.shape);
  const o = resolveOutput(ctx, x.shape, out, kind);
  const slice = o.channelOffset !== 0 || o.channelStride !== channels;
  ctx.dispatch({
    op: kind,
    variant: `${kind}${slice ? '-slice' : ''}/wg${WG}`,
    code: () => activations + preprocess(source, { SILU: kind === 'silu', GELU: kind === 'gelu', QUICK_GELU: kind === 'quick-gelu', SLICE: slice }),
    constants: { WG },
    uniforms: uniforms([
      ['u32', count],
      ['u32', channels],
      ['u32', o.channelOffset],
      ['u32', o.channelStride],
    ]),
    bindings: [x, o.tensor],
    workgroups: ctx.grid(Math.ceil(count / (WG * PER_THREAD))),
  });
  return o.tensor;
}

export function silu(ctx: GpuContext, x: Tensor, out?: Output): Tensor {
  return run(ctx, 'silu', x, out);
}

export function gelu(ctx: GpuContext, x: Tensor, out?: Output): Tensor {
  return run(ctx, 'gelu', x, out);
}

export function quickGelu(ctx: GpuContext, x: Tensor, out?: Output): Tensor {
  return run(ctx, 'quick-gelu', x, out);
}
