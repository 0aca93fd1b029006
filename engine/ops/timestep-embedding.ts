/**
 * Sinusoidal timestep embedding of diffusers' `get_timestep_embedding` (scale 1), for timesteps f32 [B] on the GPU:
 *
 *   half = ⌊dim/2⌋,  freq[i] = exp(−ln(maxPeriod) · i / (half − freqShift)),  arg[b, i] = t[b] · freq[i]
 *   out[b] = [sin(arg[b]), cos(arg[b])]  (or [cos, sin] with flipSinToCos), zero-padded by one column if dim is odd
 *
 * Output f32 [B, dim]. The frequency table is computed on the CPU with diffusers' f32 roundings and uploaded, so
 * each argument is bit-identical to diffusers' (one correctly rounded f32 multiply on the GPU). sin/cos of those
 * arguments (up to ~1000 for timestep 999) use an explicit Cephes range reduction and polynomials instead of WGSL's
 * sin/cos, whose accuracy is unspecified outside [−π, π]: measured absolute error 6.0e-8 (half an ulp of 1) against f64
 * sin/cos of the same arguments over t = 0…999 on SwiftShader; the reduction holds for |t · freq| < 8192. The pure CPU version is engine/ref/timestep-embedding.ts.
 */
import source from '../../shaders/timestep-embedding.wgsl?raw';
import { uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { shapeString, type Tensor } from '../gpu/tensor';
import { timestepFrequencies, type TimestepEmbeddingOptions } from '../ref/timestep-embedding';

export type { TimestepEmbeddingOptions } from '../ref/timestep-embedding';

const WG = 64;

export function timestepEmbedding(ctx: GpuContext, timesteps: Tensor, opts: TimestepEmbeddingOptions): Tensor {
  const { dim, freqShift } = opts;
  const maxPeriod = opts.maxPeriod ?? 10000;
  if (timesteps.format !== 'f32' || timesteps.shape.length !== 1) {
    throw new ShapeError(`timestep-embedding: timesteps must be f32 [B], got ${timesteps.format} ${shapeString(timesteps.shape)}`);
  }
  const half = Math.floor(dim / 2);
  if (!Number.isInteger(dim) || dim < 2 || !(half - freqShift > 0) || !(maxPeriod > 0)) {
    throw new ShapeError(`timestep-embedding: needs an integer dim ≥ 2, freqShift < dim/2 and maxPeriod > 0, got dim ${dim}, freqShift ${freqShift}, maxPeriod ${maxPeriod}`);
  }
  const batch = timesteps.shape[0]!;
  const count = batch * dim;
  const freqs = ctx.upload(timestepFrequencies(dim, freqShift, maxPeriod), [half], 'timestep-embedding.freqs');
  const out = ctx.empty([batch, dim], 'timestep-embedding');
  ctx.dispatch({
    op: 'timestep-embedding',
    variant: `wg${WG}`,
    code: () => source,
    constants: { WG },
    uniforms: uniforms([
      ['u32', count],
      ['u32', dim],
      ['u32', half],
      ['u32', opts.flipSinToCos ? 1 : 0],
    ]),
    bindings: [timesteps, freqs, out],
    workgroups: ctx.grid(Math.ceil(count / WG)),
  });
  ctx.release(freqs);
  return out;
}
