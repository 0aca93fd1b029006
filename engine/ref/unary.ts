/**
 * CPU references of engine/ops/unary.ts (and the activations other references apply): computed in f64, rounded to
 * f32 once at the end, so they are the exact functions up to that rounding.
 */

/** erfc(z) for z ≥ 0: 1 − erf from the Maclaurin series below 2.5, Laplace's continued fraction above (both ≪ 1e-12). */
function erfcNonNegative(z: number): number {
  if (z < 2.5) {
    let sum = 0;
    let term = z;
    for (let n = 0; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      sum += term / (2 * n + 1);
      term *= (-z * z) / (n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let fraction = 0;
  for (let k = 80; k >= 1; k--) fraction = k / 2 / (z + fraction);
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + fraction);
}

export function sigmoidScalar(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function siluScalar(x: number): number {
  return x * sigmoidScalar(x);
}

/** x · Φ(x) with Φ the standard normal CDF (PyTorch's `gelu(approximate='none')`). */
export function geluScalar(x: number): number {
  const h = 0.5 * x * erfcNonNegative(Math.abs(x) / Math.SQRT2);
  return x < 0 ? h : x - h;
}

export function quickGeluScalar(x: number): number {
  return x * sigmoidScalar(1.702 * x);
}

export function silu(x: Float32Array): Float32Array {
  return x.map(siluScalar);
}

export function gelu(x: Float32Array): Float32Array {
  return x.map(geluScalar);
}

export function quickGelu(x: Float32Array): Float32Array {
  return x.map(quickGeluScalar);
}
