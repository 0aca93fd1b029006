/**
 * DDIM (Song et al. 2020), as diffusers' `DDIMScheduler`.
 *
 * With ᾱ = ᾱ_t, ᾱ' = ᾱ_{t−Δ} (Δ = num_train_timesteps // steps; ᾱ' = 1 or ᾱ_0 before the first training step, per
 * `set_alpha_to_one`) and the model output m:
 *   x̂0 = (x − √(1−ᾱ) m) / √ᾱ,  ε̂ = m                        (epsilon)
 *   x̂0 = m,                   ε̂ = (x − √ᾱ x̂0) / √(1−ᾱ)     (sample)
 *   x̂0 = √ᾱ x − √(1−ᾱ) m,     ε̂ = √ᾱ m + √(1−ᾱ) x          (v_prediction)
 *   x̂0 clamped to ±clip_sample_range when clip_sample;
 *   σ = η √((1−ᾱ')/(1−ᾱ) · (1 − ᾱ/ᾱ'))
 *   x' = √ᾱ' x̂0 + √(1 − ᾱ' − σ²) ε̂ + σ z,  z ~ N(0, I) drawn only when η > 0.
 * The model input is not scaled and the initial noise has σ = 1.
 */
import { addNoiseDdpm, alphaAt, BaseScheduler, drawNoise } from './base';
import { SchedulerConfigError } from './errors';
import {
  betaConfig,
  checkOneOf,
  checkSpacing,
  noiseSchedule,
  resolveConfig,
  roundHalfEven,
  spacedTimesteps,
} from './schedule';
import type { NormalGenerator, PredictionType, SchedulerConfig, TimestepSpacing } from './types';

const CLASS = 'DDIMScheduler';

const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  clip_sample_range: 1.0,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
};

export class DdimScheduler extends BaseScheduler {
  readonly name = 'ddim';
  readonly predictionType: PredictionType;
  readonly spacing: TimestepSpacing;
  readonly stepsOffset: number;
  readonly clipSample: number | null;
  readonly finalAlphaCumprod: number;
  readonly eta: number;

  constructor(config: SchedulerConfig, eta = 0) {
    const c = resolveConfig(CLASS, config, DEFAULTS, ['thresholding']);
    super(noiseSchedule(betaConfig(CLASS, c), c.rescale_betas_zero_snr));
    if (!(eta >= 0)) throw new SchedulerConfigError(`${CLASS}: eta must be ≥ 0, not ${eta}.`);
    this.eta = eta;
    this.predictionType = checkOneOf(CLASS, 'prediction_type', c.prediction_type, [
      'epsilon',
      'sample',
      'v_prediction',
    ] as const);
    this.spacing = checkSpacing(CLASS, c.timestep_spacing);
    this.stepsOffset = c.steps_offset;
    this.clipSample = c.clip_sample ? c.clip_sample_range : null;
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0]!;
  }

  protected buildTimesteps(steps: number): number[] {
    const n = this.schedule.numTrainTimesteps;
    // Integer timesteps: 'linspace' rounds numpy's float spacing to even, 'leading' / 'trailing' are integral.
    return spacedTimesteps(this.spacing, steps, n, this.stepsOffset).map(roundHalfEven);
  }

  protected stepAt(
    _i: number,
    m: Float32Array,
    t: number,
    x: Float32Array,
    rng: NormalGenerator,
  ): Float32Array {
    const prevT = t - Math.floor(this.schedule.numTrainTimesteps / this.numInferenceSteps);
    const a = alphaAt(this.schedule, t, this.name);
    const aPrev = prevT >= 0 ? alphaAt(this.schedule, prevT, this.name) : this.finalAlphaCumprod;
    const b = 1 - a;
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(b);
    const variance = ((1 - aPrev) / b) * (1 - a / aPrev);
    const std = this.eta * Math.sqrt(variance);
    const dirCoeff = Math.sqrt(1 - aPrev - std * std);
    const sqrtAPrev = Math.sqrt(aPrev);
    const clip = this.clipSample;
    const noise = this.eta > 0 ? drawNoise(rng, x.length, this.name) : null;
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      const xk = x[k]!;
      const mk = m[k]!;
      let x0: number;
      let eps: number;
      if (this.predictionType === 'epsilon') {
        x0 = (xk - sqrtB * mk) / sqrtA;
        eps = mk;
      } else if (this.predictionType === 'sample') {
        x0 = mk;
        eps = (xk - sqrtA * x0) / sqrtB;
      } else {
        x0 = sqrtA * xk - sqrtB * mk;
        eps = sqrtA * mk + sqrtB * xk;
      }
      if (clip !== null) x0 = Math.min(Math.max(x0, -clip), clip);
      out[k] = sqrtAPrev * x0 + dirCoeff * eps + (noise ? std * noise[k]! : 0);
    }
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    return addNoiseDdpm(this.schedule, original, noise, t, this.name);
  }
}
