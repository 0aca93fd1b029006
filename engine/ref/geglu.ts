/** CPU reference of GEGLU as the GEMM fuses it into its input loads (engine/ops/gemm.ts): y[r, f] = x[r, f] · gelu(x[r, F + f]) in f64, for x [rows, 2F]. */
import { geluScalar } from './unary';

export function geglu(x: Float32Array, width: number): Float32Array {
  const features = width / 2;
  const rows = x.length / width;
  const y = new Float32Array(rows * features);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < features; f++) y[r * features + f] = x[r * width + f]! * geluScalar(x[r * width + features + f]!);
  }
  return y;
}
