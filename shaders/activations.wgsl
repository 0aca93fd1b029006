// Activation functions shared by the ops that apply them (unary, GEGLU, GroupNorm + SiLU); an op's TypeScript
// prepends this file to its shader. CPU twins: engine/ref/unary.ts.

// Logistic function without overflow: exp only ever sees −|x| ≤ 0, so it lies in (0, 1] for every finite x.
fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, x >= 0.0);
}

fn silu(x: f32) -> f32 {
  return x * sigmoid(x);
}

// The sigmoid approximation of GELU used by CLIP: x · σ(1.702 x).
fn quick_gelu(x: f32) -> f32 {
  return x * sigmoid(1.702 * x);
}

// erfc(z) for z ≥ 0 with relative error < 1.2e-7 (Numerical Recipes' Chebyshev fit `erfcc`). Relative, not only
// absolute, accuracy matters: GELU of a negative x is x·erfc(|x|/√2)/2, a tiny number that 1 + erf(x/√2) would
// compute by cancellation. Beyond z = 10 erfc underflows f32 anyway; the clamp keeps z² finite.
fn erfc_nonneg(z_in: f32) -> f32 {
  let z = min(z_in, 10.0);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(poly - z * z);
}

// Exact (erf) GELU: x · Φ(x) = x · erfc(−x/√2) / 2, i.e. h = x·erfc(|x|/√2)/2 for x < 0 and x − h for x ≥ 0.
fn gelu(x: f32) -> f32 {
  let h = 0.5 * x * erfc_nonneg(abs(x) * 0.70710678118654752);
  return select(x - h, h, x < 0.0);
}
