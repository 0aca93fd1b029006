/**
 * CPU references of engine/ops/gemm.ts, accumulating in f64. Weights are the plain [N, K] values (for quantised
 * formats: `dequantize` of the packed weight); GELU uses an erf accurate to ~1e-13, so it also checks the kernel's
 * approximation.
 */
import type { Activation } from '../ops/gemm';

/** erf by its Maclaurin series for |x| < 3 and the continued fraction of erfc beyond. */
export function erf(x: number): number {
  const z = Math.abs(x);
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let i = 1; i < 80; i++) {
      term *= (-z * z) / i;
      sum += term / (2 * i + 1);
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  // erfc(z) = exp(-z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))), evaluated from the tail.
  let f = z;
  for (let i = 60; i >= 1; i--) f = z + i / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f);
}

export function activate(v: number, activation: Activation | undefined): number {
  switch (activation) {
    case 'gelu':
      return 0.5 * v * (1 + erf(v / Math.SQRT2));
    case 'quick-gelu':
      return v / (1 + Math.exp(-1.702 * v));
    case 'silu':
      return v / (1 + Math.exp(-v));
    default:
      return v;
  }
}

export interface LinearRefOptions {
  bias?: Float32Array;
  activation?: Activation;
  residual?: Float32Array;
}

/** y = act(x · wᵀ + bias) + residual for x [..., K] (flattened) and w [N, K]; y is [..., N]. */
export function linear(x: Float32Array, w: Float32Array, [n, k]: readonly [number, number], opts: LinearRefOptions = {}): Float32Array {
  const m = x.length / k;
  const y = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let sum = opts.bias ? opts.bias[c]! : 0;
      for (let i = 0; i < k; i++) sum += x[r * k + i]! * w[c * k + i]!;
      y[r * n + c] = activate(sum, opts.activation) + (opts.residual ? opts.residual[r * n + c]! : 0);
    }
  }
  return y;
}

export interface MatmulRefOptions {
  transposeB?: boolean;
  alpha?: number;
}

/** c = alpha · a · b for a [batch, M, K] and b [batch, K, N] (or [batch, N, K] transposed), flattened. */
export function matmul(a: Float32Array, b: Float32Array, [batch, m, k, n]: readonly [number, number, number, number], opts: MatmulRefOptions = {}): Float32Array {
  const c = new Float32Array(batch * m * n);
  const alpha = opts.alpha ?? 1;
  for (let s = 0; s < batch; s++) {
    for (let r = 0; r < m; r++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let i = 0; i < k; i++) {
          const bv = opts.transposeB ? b[(s * n + j) * k + i]! : b[(s * k + i) * n + j]!;
          sum += a[(s * m + r) * k + i]! * bv;
        }
        c[(s * m + r) * n + j] = alpha * sum;
      }
    }
  }
  return c;
}
