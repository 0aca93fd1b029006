/** CPU reference of engine/ops/softmax.ts: max-subtracted softmax over rows of length `len`, in f64. */
export function softmax(x: Float32Array, len: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += len) {
    let max = -Infinity;
    for (let i = 0; i < len; i++) max = Math.max(max, x[base + i]!);
    let sum = 0;
    for (let i = 0; i < len; i++) sum += Math.exp(x[base + i]! - max);
    for (let i = 0; i < len; i++) y[base + i] = Math.exp(x[base + i]! - max) / sum;
  }
  return y;
}
