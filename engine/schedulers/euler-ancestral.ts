/**
 * Euler ancestral (k-diffusion's `sample_euler_ancestral`, η = 1), as diffusers' `EulerAncestralDiscreteScheduler`.
 *
 * From σ = σ_i to σ' = σ_{i+1} the step splits σ' into a deterministic part σ↓ and fresh noise σ↑:
 *   σ↑ = √(σ'² (σ² − σ'²) / σ²),  σ↓ = √(σ'² − σ↑²)
 *   x' = x + (x − x̂0)/σ · (σ↓ − σ) + σ↑ z,  z ~ N(0, I)
 * with x̂0 as in Euler (epsilon or v_prediction). Noise is drawn at every step, the last one included (σ↑ = 0
 * there), so the generator advances as diffusers' does. Timesteps, σ table and input scaling are Euler's, without
 * Karras sigmas (the diffusers class has none) and always ending at σ = 0.
 */
import { drawNoise } from './base';
import { SigmaScheduler } from './euler';
import {
  betaConfig,
  checkOneOf,
  checkSpacing,
  noiseSchedule,
  resolveConfig,
  schedulePositiveTerminal,
} from './schedule';
import type { NormalGenerator, SchedulerConfig } from './types';

const CLASS = 'EulerAncestralDiscreteScheduler';

const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
};

export class EulerAncestralScheduler extends SigmaScheduler {
  readonly name = 'euler-a';

  constructor(config: SchedulerConfig) {
    const c = resolveConfig(CLASS, config, DEFAULTS);
    const schedule = noiseSchedule(betaConfig(CLASS, c), c.rescale_betas_zero_snr);
    super(schedulePositiveTerminal(schedule, c.rescale_betas_zero_snr), {
      predictionType: checkOneOf(CLASS, 'prediction_type', c.prediction_type, ['epsilon', 'v_prediction'] as const),
      spacing: checkSpacing(CLASS, c.timestep_spacing),
      stepsOffset: c.steps_offset,
      karras: false,
      karrasRange: [null, null],
      finalSigmaMin: false,
    });
  }

  protected stepAt(i: number, m: Float32Array, _t: number, x: Float32Array, rng: NormalGenerator): Float32Array {
    const sigma = this.sigmas[i]!;
    const next = this.sigmas[i + 1]!;
    const up = Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma));
    // Mathematically σ'⁴/σ² ≥ 0; the clamp keeps rounding from turning a vanishing σ' into NaN.
    const down = Math.sqrt(Math.max(next * next - up * up, 0));
    const dt = down - sigma;
    const noise = drawNoise(rng, x.length, this.name);
    return x.map((xk, k) => {
      const x0 = this.predictX0(xk, m[k]!, sigma);
      return xk + ((xk - x0) / sigma) * dt + noise[k]! * up;
    });
  }
}
