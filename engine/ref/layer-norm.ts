/** CPU reference of engine/ops/layer-norm.ts: two-pass statistics in f64 over rows of C = gamma.length values. */
export interface LayerNormOptions {
  eps?: number;
}

export function layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, opts: LayerNormOptions = {}): Float32Array {
  const eps = opts.eps ?? 1e-5;
  const channels = gamma.length;
  const y = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += channels) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += x[base + c]!;
    const mean = sum / channels;
    let squares = 0;
    for (let c = 0; c < channels; c++) squares += (x[base + c]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(squares / channels + eps);
    for (let c = 0; c < channels; c++) y[base + c] = (x[base + c]! - mean) * rstd * gamma[c]! + beta[c]!;
  }
  return y;
}
