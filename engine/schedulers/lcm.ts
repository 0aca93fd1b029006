/**
 * Latent consistency model sampling (Luo et al. 2023), as diffusers' `LCMScheduler`.
 *
 * Timesteps: the distillation schedule t_j = j·k − 1, j = 1 … floor(original_inference_steps·strength),
 * k = T // original_inference_steps, read from the top at `steps` evenly spaced (floored) indices; img2img's strength
 * shortens this schedule instead of skipping steps.
 * Step at t (next timestep t', or t itself at the end), with ᾱ = ᾱ_t, ᾱ' = ᾱ_{t'}:
 *   x̂0 = (x − √(1−ᾱ) m)/√ᾱ (epsilon) | m (sample) | √ᾱ x − √(1−ᾱ) m (v_prediction), clamped when clip_sample
 *   c_skip = σ_d² / (s² + σ_d²),  c_out = s / √(s² + σ_d²),  s = t·timestep_scaling, σ_d = 0.5
 *   D = c_out x̂0 + c_skip x
 *   x' = √ᾱ' D + √(1−ᾱ') z, z ~ N(0, I), except after the last step, which returns D.
 * The model input is not scaled and the initial noise has σ = 1. (The LCM UNet's guidance embedding is the
 * pipeline's business, not the scheduler's.)
 */
import { addNoiseDdpm, alphaAt, BaseScheduler, drawNoise } from './base';
import { SchedulerConfigError } from './errors';
import { betaConfig, checkOneOf, noiseSchedule, npLinspace, resolveConfig } from './schedule';
import type { NormalGenerator, PredictionType, SchedulerConfig } from './types';

const CLASS = 'LCMScheduler';

const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  original_inference_steps: 50,
  clip_sample: false,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
  prediction_type: 'epsilon',
  thresholding: false,
  timestep_scaling: 10.0,
  rescale_betas_zero_snr: false,
};

/** σ_data of the consistency boundary conditions. */
const SIGMA_DATA = 0.5;

export class LcmScheduler extends BaseScheduler {
  readonly name = 'lcm';
  readonly predictionType: PredictionType;
  readonly originalInferenceSteps: number;
  readonly clipSample: number | null;
  readonly finalAlphaCumprod: number;
  readonly timestepScaling: number;

  constructor(config: SchedulerConfig) {
    const c = resolveConfig(CLASS, config, DEFAULTS, ['thresholding']);
    super(noiseSchedule(betaConfig(CLASS, c), c.rescale_betas_zero_snr));
    this.predictionType = checkOneOf(CLASS, 'prediction_type', c.prediction_type, [
      'epsilon',
      'sample',
      'v_prediction',
    ] as const);
    if (!Number.isInteger(c.original_inference_steps) || c.original_inference_steps < 1) {
      throw new SchedulerConfigError(
        `${CLASS}: original_inference_steps must be a positive integer, not ${c.original_inference_steps}.`,
      );
    }
    if (c.original_inference_steps > this.schedule.numTrainTimesteps) {
      throw new SchedulerConfigError(
        `${CLASS}: original_inference_steps ${c.original_inference_steps} exceeds num_train_timesteps ` +
          `${this.schedule.numTrainTimesteps}.`,
      );
    }
    this.originalInferenceSteps = c.original_inference_steps;
    this.clipSample = c.clip_sample ? c.clip_sample_range : null;
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0]!;
    this.timestepScaling = c.timestep_scaling;
  }

  protected buildTimesteps(steps: number, strength: number): number[] {
    const original = this.originalInferenceSteps;
    const k = Math.floor(this.schedule.numTrainTimesteps / original);
    const count = Math.floor(original * strength);
    if (count < steps) {
      throw new SchedulerConfigError(
        `${CLASS}: ${steps} steps need at least as many points of the ${original}-step distillation schedule, ` +
          `but strength ${strength} leaves ${count}; use at most ${count} steps or a higher strength.`,
      );
    }
    const origin: number[] = [];
    for (let j = count; j >= 1; j--) origin.push(j * k - 1);
    return npLinspace(0, count, steps, false).map((x) => origin[Math.floor(x)]!);
  }

  /** LCM takes strength into its schedule: every timestep of it runs. */
  protected override startIndex(): number {
    return 0;
  }

  protected stepAt(i: number, m: Float32Array, t: number, x: Float32Array, rng: NormalGenerator): Float32Array {
    const prevT = i + 1 < this.full.length ? this.full[i + 1]! : t;
    const a = alphaAt(this.schedule, t, this.name);
    const aPrev = prevT >= 0 ? alphaAt(this.schedule, prevT, this.name) : this.finalAlphaCumprod;
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(1 - a);
    const scaled = t * this.timestepScaling;
    const cSkip = SIGMA_DATA ** 2 / (scaled * scaled + SIGMA_DATA ** 2);
    const cOut = scaled / Math.sqrt(scaled * scaled + SIGMA_DATA ** 2);
    const clip = this.clipSample;
    const last = i === this.numInferenceSteps - 1;
    const noise = last ? null : drawNoise(rng, x.length, this.name);
    const sqrtAPrev = Math.sqrt(aPrev);
    const sqrtBPrev = Math.sqrt(1 - aPrev);
    return x.map((xk, k) => {
      const mk = m[k]!;
      let x0 =
        this.predictionType === 'epsilon'
          ? (xk - sqrtB * mk) / sqrtA
          : this.predictionType === 'sample'
            ? mk
            : sqrtA * xk - sqrtB * mk;
      if (clip !== null) x0 = Math.min(Math.max(x0, -clip), clip);
      const denoised = cOut * x0 + cSkip * xk;
      return noise ? sqrtAPrev * denoised + sqrtBPrev * noise[k]! : denoised;
    });
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    return addNoiseDdpm(this.schedule, original, noise, t, this.name);
  }
}
