/**
 * Prompt weighting ("(word:1.3)", engine/tokenizer/emphasis.ts) applied to the text encoder's output, A1111's rule:
 *
 *   y[b, t, c] = z[b, t, c] · w[b, t] · mean(z[b]) / mean(z[b] · w[b])     means over all T × C values of prompt b
 *
 * so a token's hidden state grows with its weight while the prompt's overall mean stays what the encoder gave.
 * z is f32 [B, T, C] (last_hidden_state), w f32 [B, T] (1 for the start, end and padding tokens). Sums are f32, one
 * workgroup per prompt; hidden states average near 0 (~1e-3 of their magnitude in SD's CLIP), so the ratio carries
 * f32 cancellation of ~1e-5 relative, as A1111's own f32 sums do. A weighted mean of exactly 0 leaves the rescale out
 * (A1111 would divide by zero). With every weight of a prompt 1 its values come out unchanged, bit for bit.
 */
import source from '../../shaders/prompt-weights.wgsl?raw';
import { uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { shapeString, type Tensor } from '../gpu/tensor';

const WG = 256;

export function promptWeights(ctx: GpuContext, z: Tensor, weights: Tensor): Tensor {
  const [batch, tokens, hidden] = z.shape;
  if (z.format !== 'f32' || z.shape.length !== 3 || !batch || !tokens || !hidden) {
    throw new ShapeError(`prompt-weights: needs f32 hidden states [B, T, C], got ${z.format} ${shapeString(z.shape)}`);
  }
  if (weights.format !== 'f32' || weights.shape.length !== 2 || weights.shape[0] !== batch || weights.shape[1] !== tokens) {
    throw new ShapeError(`prompt-weights: weights must be f32 [${batch}, ${tokens}] for hidden states ${shapeString(z.shape)}, got ${weights.format} ${shapeString(weights.shape)}`);
  }
  const out = ctx.empty(z.shape, 'prompt-weights');
  ctx.dispatch({
    op: 'prompt-weights',
    variant: `wg${WG}`,
    code: () => source,
    constants: { WG },
    uniforms: uniforms([
      ['u32', batch],
      ['u32', tokens],
      ['u32', hidden],
    ]),
    bindings: [z, weights, out],
    workgroups: ctx.grid(batch),
  });
  return out;
}
