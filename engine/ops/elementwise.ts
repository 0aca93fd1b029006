/**
 * Elementwise add, multiply and affine scale.
 *
 *   add(a, b)[i] = a[i] + b[i mod |b|]      mul(a, b)[i] = a[i] · b[i mod |b|]      scale(a, α, β)[i] = α·a[i] + β
 *
 * `b` broadcasts over leading dimensions: its shape must be a suffix of `a`'s (a bias [C] on an NHWC tensor, or a
 * tensor of the same shape). f32 in, f32 out; exact up to f32 rounding of one operation.
 */
import source from '../../shaders/elementwise.wgsl?raw';
import { uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { numel, shapeString, type Tensor } from '../gpu/tensor';
import { preprocess } from '../gpu/wgsl';

const WG = 256;
type Kind = 'add' | 'mul' | 'scale';

function validateBroadcast(op: string, a: Tensor, b: Tensor): void {
  const suffix = a.shape.slice(a.shape.length - b.shape.length);
  if (b.shape.length > a.shape.length || suffix.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: ${shapeString(b.shape)} does not broadcast to ${shapeString(a.shape)}`);
  }
}

function run(ctx: GpuContext, kind: Kind, a: Tensor, b: Tensor | undefined, alpha: number, beta: number, out?: Tensor): Tensor {
  const count = numel(a.shape);
  const result = out ?? ctx.empty(a.shape, kind);
  if (numel(result.shape) !== count) throw new ShapeError(`${kind}: output ${shapeString(result.shape)} for input ${shapeString(a.shape)}`);
  ctx.dispatch({
    op: kind,
    variant: kind,
    code: () => preprocess(source, { BINARY: kind !== 'scale', ADD: kind === 'add', MUL: kind === 'mul' }),
    constants: { WG },
    uniforms: uniforms([
      ['u32', count],
      ['u32', b ? numel(b.shape) : 1],
      ['f32', alpha],
      ['f32', beta],
    ]),
    bindings: [a, b, result],
    workgroups: ctx.grid(Math.ceil(count / (WG * 4))),
  });
  return result;
}

export function add(ctx: GpuContext, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  validateBroadcast('add', a, b);
  return run(ctx, 'add', a, b, 1, 0, out);
}

export function mul(ctx: GpuContext, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  validateBroadcast('mul', a, b);
  return run(ctx, 'mul', a, b, 1, 0, out);
}

export function scale(ctx: GpuContext, a: Tensor, alpha: number, beta = 0, out?: Tensor): Tensor {
  return run(ctx, 'scale', a, undefined, alpha, beta, out);
}
