/**
 * Sinusoidal timestep embedding, exactly as diffusers' `get_timestep_embedding` computes it in f32 (scale = 1):
 *
 *   half = ⌊dim/2⌋,  freq[i] = exp(−ln(maxPeriod) · i / (half − freqShift)),  arg[b, i] = t[b] · freq[i]
 *   emb[b] = [sin(arg[b]), cos(arg[b])]  (or [cos, sin] with flipSinToCos), one zero column appended when dim is odd
 *
 * Every intermediate is rounded to f32 where PyTorch rounds it, so `timestepFrequencies` and the arguments are the
 * same f32 numbers as diffusers'; sin and cos are then taken in f64 of those arguments. Small enough that the
 * pipeline may compute it here and upload the result instead of dispatching engine/ops/timestep-embedding.ts.
 */
export interface TimestepEmbeddingOptions {
  /** Embedding width (320 for SD 1.5's UNet). */
  dim: number;
  /** Put cos before sin (true in SD 1.5). */
  flipSinToCos: boolean;
  /** diffusers' `downscale_freq_shift` (0 in SD 1.5). */
  freqShift: number;
  /** Longest period, 10000 unless the model says otherwise. */
  maxPeriod?: number;
}

/** The ⌊dim/2⌋ f32 frequencies exp(−ln(maxPeriod) · i / (half − freqShift)). */
export function timestepFrequencies(dim: number, freqShift: number, maxPeriod = 10000): Float32Array {
  const f = Math.fround;
  const half = Math.floor(dim / 2);
  const logPeriod = f(-Math.log(maxPeriod));
  const divisor = f(half - freqShift);
  return Float32Array.from({ length: half }, (_, i) => f(Math.exp(f(f(logPeriod * i) / divisor))));
}

export function timestepEmbedding(timesteps: ArrayLike<number>, opts: TimestepEmbeddingOptions): Float32Array {
  const { dim, flipSinToCos } = opts;
  const freqs = timestepFrequencies(dim, opts.freqShift, opts.maxPeriod);
  const half = freqs.length;
  const out = new Float32Array(timesteps.length * dim);
  for (let b = 0; b < timesteps.length; b++) {
    const t = Math.fround(timesteps[b]!);
    for (let i = 0; i < half; i++) {
      const arg = Math.fround(t * freqs[i]!);
      out[b * dim + i] = flipSinToCos ? Math.cos(arg) : Math.sin(arg);
      out[b * dim + half + i] = flipSinToCos ? Math.sin(arg) : Math.cos(arg);
    }
  }
  return out;
}
