/** CPU reference of engine/ops/prompt-weights.ts: A1111's rule with the means in f64, over z [B, T, C] and weights [B, T]. */
export function promptWeights(z: Float32Array, weights: Float32Array, tokens: number): Float32Array {
  const batch = weights.length / tokens;
  const n = z.length / batch;
  const hidden = n / tokens;
  const y = new Float32Array(z.length);
  for (let b = 0; b < batch; b++) {
    let plain = 0;
    let weighted = 0;
    for (let i = 0; i < n; i++) {
      plain += z[b * n + i]!;
      weighted += z[b * n + i]! * weights[b * tokens + Math.floor(i / hidden)]!;
    }
    const ratio = weighted === 0 || weighted === plain ? 1 : plain / weighted;
    for (let i = 0; i < n; i++) y[b * n + i] = z[b * n + i]! * weights[b * tokens + Math.floor(i / hidden)]! * ratio;
  }
  return y;
}
