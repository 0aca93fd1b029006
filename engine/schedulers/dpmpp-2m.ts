/**
 * DPM-Solver++ multistep (Lu et al. 2022, "DPM++ 2M" at its default order 2), as diffusers'
 * `DPMSolverMultistepScheduler` with `algorithm_type` 'dpmsolver++'.
 *
 * Each step turns the model output into a data prediction D = x̂0 (epsilon: (x − σ_t m)/α_t; v_prediction:
 * α_t x − σ_t m; sample: m) where α_t = 1/√(σ²+1), σ_t = σ α_t for the run's σ. With λ = log α_t − log σ_t,
 * h = λ' − λ from the current to the next σ, and r = h_prev / h:
 *   first order   x' = (σ'_t/σ_t) x − α'_t (e^{−h} − 1) D₀
 *   second order  x' = (σ'_t/σ_t) x − α'_t (e^{−h} − 1) D₀ − ½ α'_t (e^{−h} − 1) D₁       (midpoint)
 *                 x' = (σ'_t/σ_t) x − α'_t (e^{−h} − 1) D₀ + α'_t ((e^{−h} − 1)/h + 1) D₁  (heun)
 *                 with D₁ = (D₀ − D₋₁)/r
 *   third order   the diffusers formula with D₁, D₂ from the last three outputs.
 * The first step is first order (no history); with `lower_order_final` and fewer than 15 steps the last step is
 * first order and the second-to-last at most second order; a final σ of 0 (the default) makes the last step first
 * order always, and it returns x' = D₀. The model input is not scaled; the initial noise has σ = 1.
 *
 * Timesteps are integers: 'linspace' spreads steps + 1 points over [0, T − 1] and drops the 0; 'leading' uses
 * T // (steps + 1) as stride; Karras sigmas map back to (rounded) timesteps through log σ.
 */
import { BaseScheduler, sameLength } from './base';
import { SchedulerConfigError } from './errors';
import {
  betaConfig,
  checkOneOf,
  checkSpacing,
  karrasSigmas,
  logSigmasF32,
  noiseSchedule,
  npArange,
  npInterp,
  npLinspace,
  resolveConfig,
  roundHalfEven,
  schedulePositiveTerminal,
  sigmaToT,
  trainSigmas,
} from './schedule';
import type { NormalGenerator, PredictionType, SchedulerConfig, SchedulerOptions, TimestepSpacing } from './types';

const f32 = Math.fround;
const CLASS = 'DPMSolverMultistepScheduler';

const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity,
  variance_type: null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
};

/** α_t = 1/√(σ²+1), σ_t = σ α_t, λ = log α_t − log σ_t, float32 as diffusers' `_sigma_to_alpha_sigma_t`. */
function alphaSigmaLambda(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const s = f32(sigma * alpha);
  return { alpha, sigma: s, lambda: f32(Math.log(alpha)) - f32(Math.log(s)) };
}

export class DpmSolverMultistepScheduler extends BaseScheduler {
  readonly name = 'dpm++2m';
  readonly predictionType: PredictionType;
  readonly solverOrder: number;
  readonly solverType: 'midpoint' | 'heun';
  readonly spacing: TimestepSpacing;
  /** σ of each entry of the whole schedule, plus the final σ. */
  sigmas: Float32Array = new Float32Array(0);
  private readonly trainSigmas: Float32Array;
  private readonly settings: {
    stepsOffset: number;
    karras: boolean;
    cosine: boolean;
    finalSigmaMin: boolean;
    lowerOrderFinal: boolean;
    eulerAtFinal: boolean;
    lambdaMinClipped: number;
  };
  /** Data predictions of the last `solverOrder` steps, oldest first. */
  private outputs: Float32Array[] = [];
  private lowerOrderNums = 0;

  constructor(config: SchedulerConfig, options: SchedulerOptions = {}) {
    const c = resolveConfig(CLASS, config, DEFAULTS, [
      'thresholding',
      'use_exponential_sigmas',
      'use_beta_sigmas',
      'use_lu_lambdas',
      'use_flow_sigmas',
      'variance_type',
    ]);
    const beta = betaConfig(CLASS, c);
    super(schedulePositiveTerminal(noiseSchedule(beta, c.rescale_betas_zero_snr), c.rescale_betas_zero_snr));
    // diffusers maps these legacy names onto the methods it runs instead.
    const algorithm = c.algorithm_type === 'deis' ? 'dpmsolver++' : c.algorithm_type;
    checkOneOf(CLASS, 'algorithm_type', algorithm, ['dpmsolver++'] as const);
    const solverType = ['logrho', 'bh1', 'bh2'].includes(c.solver_type) ? 'midpoint' : c.solver_type;
    this.solverType = checkOneOf(CLASS, 'solver_type', solverType, ['midpoint', 'heun'] as const);
    if (![1, 2, 3].includes(c.solver_order)) {
      throw new SchedulerConfigError(`${CLASS}: solver_order must be 1, 2 or 3, not ${c.solver_order}.`);
    }
    this.solverOrder = c.solver_order;
    this.predictionType = checkOneOf(CLASS, 'prediction_type', c.prediction_type, [
      'epsilon',
      'sample',
      'v_prediction',
    ] as const);
    this.spacing = checkSpacing(CLASS, c.timestep_spacing);
    this.settings = {
      stepsOffset: c.steps_offset,
      karras: options.karras ?? c.use_karras_sigmas,
      cosine: beta.beta_schedule === 'squaredcos_cap_v2',
      finalSigmaMin:
        checkOneOf(CLASS, 'final_sigmas_type', c.final_sigmas_type, ['zero', 'sigma_min'] as const) === 'sigma_min',
      lowerOrderFinal: c.lower_order_final,
      eulerAtFinal: c.euler_at_final,
      lambdaMinClipped: c.lambda_min_clipped,
    };
    this.trainSigmas = trainSigmas(this.schedule.alphasCumprod);
  }

  /** One past the last training timestep used: those with λ(t) below `lambda_min_clipped` are cut off. */
  private lastTimestep(): number {
    const acp = this.schedule.alphasCumprod;
    let clipped = 0;
    for (let t = 0; t < acp.length; t++) {
      const a = acp[t]!;
      const lambda = f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a))))));
      if (lambda < this.settings.lambdaMinClipped) clipped++;
    }
    return acp.length - clipped;
  }

  protected buildTimesteps(steps: number): number[] {
    const { stepsOffset, karras, cosine, finalSigmaMin } = this.settings;
    const n = this.schedule.numTrainTimesteps;
    const last = this.lastTimestep();
    let timesteps: number[];
    if (this.spacing === 'linspace') {
      timesteps = npLinspace(0, last - 1, steps + 1).map(roundHalfEven).reverse().slice(0, steps);
    } else if (this.spacing === 'leading') {
      const ratio = Math.floor(last / (steps + 1));
      timesteps = [];
      for (let i = steps; i >= 1; i--) timesteps.push(i * ratio + stepsOffset);
    } else {
      timesteps = npArange(last, 0, -n / steps).map((t) => roundHalfEven(t) - 1);
    }
    let sigmas: number[];
    if (karras) {
      sigmas = karrasSigmas(this.trainSigmas[0]!, this.trainSigmas[n - 1]!, steps);
      const logSigmas = logSigmasF32(this.trainSigmas);
      // diffusers rounds, except for the cosine schedule, whose float timesteps its int64 cast truncates.
      timesteps = sigmas.map((s) => (cosine ? Math.trunc : roundHalfEven)(sigmaToT(s, logSigmas)));
    } else {
      sigmas = timesteps.map((t) => npInterp(t, this.trainSigmas));
    }
    this.sigmas = Float32Array.from(sigmas.concat(finalSigmaMin ? this.trainSigmas[0]! : 0));
    return timesteps;
  }

  protected override resetRun(): void {
    this.outputs = [];
    this.lowerOrderNums = 0;
  }

  protected stepAt(i: number, m: Float32Array, _t: number, x: Float32Array, _rng: NormalGenerator): Float32Array {
    const count = this.full.length;
    const { lowerOrderFinal, eulerAtFinal, finalSigmaMin } = this.settings;
    const lowerFinal =
      i === count - 1 &&
      (eulerAtFinal || (lowerOrderFinal && count < 15) || !finalSigmaMin || this.sigmas[i + 1] === this.sigmas[i]);
    const lowerSecond = i === count - 2 && lowerOrderFinal && count < 15;

    const d0 = this.dataPrediction(m, x, this.sigmas[i]!);
    this.outputs.push(d0);
    if (this.outputs.length > this.solverOrder) this.outputs.shift();

    let out: Float32Array;
    if (this.solverOrder === 1 || this.lowerOrderNums < 1 || lowerFinal) out = this.firstOrder(i, x, d0);
    else if (this.solverOrder === 2 || this.lowerOrderNums < 2 || lowerSecond) out = this.secondOrder(i, x);
    else out = this.thirdOrder(i, x);
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    return out;
  }

  private dataPrediction(m: Float32Array, x: Float32Array, sigma: number): Float32Array {
    const { alpha, sigma: s } = alphaSigmaLambda(sigma);
    switch (this.predictionType) {
      case 'epsilon':
        return x.map((xk, k) => (xk - s * m[k]!) / alpha);
      case 'v_prediction':
        return x.map((xk, k) => alpha * xk - s * m[k]!);
      case 'sample':
        return m.slice();
    }
  }

  private firstOrder(i: number, x: Float32Array, d0: Float32Array): Float32Array {
    const to = alphaSigmaLambda(this.sigmas[i + 1]!);
    const from = alphaSigmaLambda(this.sigmas[i]!);
    const h = to.lambda - from.lambda;
    const cx = to.sigma / from.sigma;
    const c0 = to.alpha * (Math.exp(-h) - 1);
    return x.map((xk, k) => cx * xk - c0 * d0[k]!);
  }

  private secondOrder(i: number, x: Float32Array): Float32Array {
    const to = alphaSigmaLambda(this.sigmas[i + 1]!);
    const s0 = alphaSigmaLambda(this.sigmas[i]!);
    const s1 = alphaSigmaLambda(this.sigmas[i - 1]!);
    const [m1, m0] = this.outputs.slice(-2) as [Float32Array, Float32Array];
    const h = to.lambda - s0.lambda;
    const r0 = (s0.lambda - s1.lambda) / h;
    const cx = to.sigma / s0.sigma;
    const em1 = Math.exp(-h) - 1;
    const c0 = to.alpha * em1;
    const c1 = this.solverType === 'midpoint' ? -0.5 * to.alpha * em1 : to.alpha * (em1 / h + 1);
    return x.map((xk, k) => {
      const d1 = (1 / r0) * (m0[k]! - m1[k]!);
      return cx * xk - c0 * m0[k]! + c1 * d1;
    });
  }

  private thirdOrder(i: number, x: Float32Array): Float32Array {
    const to = alphaSigmaLambda(this.sigmas[i + 1]!);
    const s0 = alphaSigmaLambda(this.sigmas[i]!);
    const s1 = alphaSigmaLambda(this.sigmas[i - 1]!);
    const s2 = alphaSigmaLambda(this.sigmas[i - 2]!);
    const [m2, m1, m0] = this.outputs.slice(-3) as [Float32Array, Float32Array, Float32Array];
    const h = to.lambda - s0.lambda;
    const r0 = (s0.lambda - s1.lambda) / h;
    const r1 = (s1.lambda - s2.lambda) / h;
    const cx = to.sigma / s0.sigma;
    const em1 = Math.exp(-h) - 1;
    const c0 = to.alpha * em1;
    const c1 = to.alpha * (em1 / h + 1);
    const c2 = to.alpha * ((em1 + h) / (h * h) - 0.5);
    return x.map((xk, k) => {
      const d10 = (1 / r0) * (m0[k]! - m1[k]!);
      const d11 = (1 / r1) * (m1[k]! - m2[k]!);
      const d1 = d10 + (r0 / (r0 + r1)) * (d10 - d11);
      const d2 = (1 / (r0 + r1)) * (d10 - d11);
      return cx * xk - c0 * m0[k]! + c1 * d1 - c2 * d2;
    });
  }

  /** α_t x + σ_t ε at the σ of the run's current step (img2img: its first step), as diffusers' `add_noise`. */
  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    sameLength(this.name, original, noise);
    const { alpha, sigma } = alphaSigmaLambda(this.sigmas[this.current(t, 'addNoise')]!);
    return original.map((x, k) => alpha * x + sigma * noise[k]!);
  }
}
