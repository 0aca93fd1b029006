/**
 * Euler (Karras et al. 2022, algorithm 2 without churn), as diffusers' `EulerDiscreteScheduler`; and the σ-space
 * machinery it shares with Euler ancestral.
 *
 * Both work on x in the variance-exploding view, x = x0 + σ ε with σ_t = √((1 − ᾱ_t)/ᾱ_t). The run's σ_i are the
 * training σ linearly interpolated at the (float) timesteps, optionally re-spaced as Karras sigmas, with a final σ of
 * 0 (or σ_min). The UNet sees x / √(σ² + 1), the initial noise has σ_max (√(σ_max² + 1) under 'leading' spacing).
 *
 * Euler step from σ = σ_i to σ' = σ_{i+1}, with the model output m:
 *   x̂0 = x − σ m (epsilon) | m·(−σ/√(σ²+1)) + x/(σ²+1) (v_prediction) | m (sample)
 *   x' = x + (x − x̂0)/σ · (σ' − σ)
 */
import { BaseScheduler, sameLength } from './base';
import {
  betaConfig,
  checkOneOf,
  checkSpacing,
  karrasSigmas,
  logSigmasF32,
  noiseSchedule,
  npInterp,
  resolveConfig,
  schedulePositiveTerminal,
  sigmaToT,
  spacedTimesteps,
  trainSigmas,
  type NoiseSchedule,
} from './schedule';
import type { NormalGenerator, SchedulerConfig, SchedulerOptions, TimestepSpacing } from './types';

const f32 = Math.fround;

export type SigmaPrediction = 'epsilon' | 'v_prediction' | 'sample';

export interface SigmaSettings {
  predictionType: SigmaPrediction;
  spacing: TimestepSpacing;
  stepsOffset: number;
  karras: boolean;
  /** Euler's `sigma_min` / `sigma_max`: the Karras range, by default the run's last and first interpolated σ. */
  karrasRange: [number | null, number | null];
  /** The σ appended after the last step: 0, or σ of training step 0 ('sigma_min'). */
  finalSigmaMin: boolean;
}

/** The σ-space schedulers: Euler and Euler ancestral. */
export abstract class SigmaScheduler extends BaseScheduler {
  /** σ of each entry of the whole schedule, plus the final σ. */
  sigmas: Float32Array;
  protected readonly trainSigmas: Float32Array;

  protected constructor(
    schedule: NoiseSchedule,
    readonly settings: SigmaSettings,
  ) {
    super(schedule);
    this.trainSigmas = trainSigmas(schedule.alphasCumprod);
    // Before setTimesteps, diffusers' sigmas are the whole training table, highest first, then 0.
    this.sigmas = Float32Array.from([...this.trainSigmas].reverse().concat(0));
  }

  override get initNoiseSigma(): number {
    const max = this.sigmas.reduce((a, b) => Math.max(a, b), 0);
    const spacing = this.settings.spacing;
    return spacing === 'linspace' || spacing === 'trailing' ? max : f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  protected buildTimesteps(steps: number): number[] {
    const { spacing, stepsOffset, karras, karrasRange, finalSigmaMin } = this.settings;
    const n = this.schedule.numTrainTimesteps;
    let timesteps = spacedTimesteps(spacing, steps, n, stepsOffset).map(f32);
    let sigmas = timesteps.map((t) => npInterp(t, this.trainSigmas));
    if (karras) {
      sigmas = karrasSigmas(karrasRange[0] ?? sigmas[sigmas.length - 1]!, karrasRange[1] ?? sigmas[0]!, steps);
      const logSigmas = logSigmasF32(this.trainSigmas);
      timesteps = sigmas.map((s) => f32(sigmaToT(s, logSigmas)));
    }
    this.sigmas = Float32Array.from(sigmas.concat(finalSigmaMin ? this.trainSigmas[0]! : 0));
    return timesteps;
  }

  override scaleModelInput(sample: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.current(t, 'scaleModelInput')]!;
    const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    return sample.map((x) => x / denom);
  }

  /** x̂0 from x and the model output m at noise level σ. */
  protected predictX0(x: number, m: number, sigma: number): number {
    switch (this.settings.predictionType) {
      case 'epsilon':
        return x - sigma * m;
      case 'v_prediction':
        return m * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
      case 'sample':
        return m;
    }
  }

  /** x + σ ε with the σ of the run's current step (img2img: the first step of the run), as diffusers' `add_noise`. */
  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    sameLength(this.name, original, noise);
    const sigma = this.sigmas[this.current(t, 'addNoise')]!;
    return original.map((x, i) => x + noise[i]! * sigma);
  }
}

const CLASS = 'EulerDiscreteScheduler';

const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  prediction_type: 'epsilon',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  sigma_min: null as number | null,
  sigma_max: null as number | null,
  timestep_spacing: 'linspace',
  timestep_type: 'discrete',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
};

export class EulerScheduler extends SigmaScheduler {
  readonly name = 'euler';

  constructor(config: SchedulerConfig, options: SchedulerOptions = {}) {
    const c = resolveConfig(CLASS, config, DEFAULTS, [
      'interpolation_type',
      'use_exponential_sigmas',
      'use_beta_sigmas',
      'timestep_type',
    ]);
    const schedule = noiseSchedule(betaConfig(CLASS, c), c.rescale_betas_zero_snr);
    const prediction = checkOneOf(CLASS, 'prediction_type', c.prediction_type, [
      'epsilon',
      'v_prediction',
      'sample',
      'original_sample',
    ] as const);
    super(schedulePositiveTerminal(schedule, c.rescale_betas_zero_snr), {
      predictionType: prediction === 'original_sample' ? 'sample' : prediction,
      spacing: checkSpacing(CLASS, c.timestep_spacing),
      stepsOffset: c.steps_offset,
      karras: options.karras ?? c.use_karras_sigmas,
      karrasRange: [c.sigma_min, c.sigma_max],
      finalSigmaMin: checkOneOf(CLASS, 'final_sigmas_type', c.final_sigmas_type, ['zero', 'sigma_min'] as const) === 'sigma_min',
    });
  }

  protected stepAt(i: number, m: Float32Array, _t: number, x: Float32Array, _rng: NormalGenerator): Float32Array {
    const sigma = this.sigmas[i]!;
    const dt = f32(this.sigmas[i + 1]! - sigma);
    return x.map((xk, k) => {
      const x0 = this.predictX0(xk, m[k]!, sigma);
      return xk + ((xk - x0) / sigma) * dt;
    });
  }
}
