/**
 * PNDM (Liu et al. 2022), as diffusers' `PNDMScheduler`: pseudo linear multistep (PLMS) steps, preceded by
 * pseudo Runge–Kutta (PRK) warm-up steps unless `skip_prk_steps` (Stable Diffusion's setting).
 *
 * Every update is the transfer φ of the paper's formula (9) from t to t' with a combined noise estimate e
 * (v_prediction outputs are turned into ε first: e = √ᾱ m + √(1−ᾱ) x):
 *   x' = √(ᾱ'/ᾱ) x − (ᾱ' − ᾱ) e / (ᾱ √(1−ᾱ') + √(ᾱ (1−ᾱ) ᾱ'))
 * PLMS combines the last outputs e₁ (newest) … e₄ with the Adams–Bashforth weights (3e₁ − e₂)/2,
 * (23e₁ − 16e₂ + 5e₃)/12, (55e₁ − 59e₂ + 37e₃ − 9e₄)/24. Without PRK, the first two steps are one Heun step taken from
 * the same sample: the schedule repeats its second timestep so that the UNet is evaluated once more there.
 * PRK runs four evaluations per step (classic RK4 weights 1/6, 1/3, 1/3, 1/6) for the first three steps.
 * The model input is not scaled and the initial noise has σ = 1.
 */
import { addNoiseDdpm, alphaAt, BaseScheduler } from './base';
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
import type { NormalGenerator, SchedulerConfig, TimestepSpacing } from './types';

const CLASS = 'PNDMScheduler';

const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  skip_prk_steps: false,
  set_alpha_to_one: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
};

/** The Runge–Kutta warm-up spans the last four points of the spacing; PLMS then has the history it needs. */
const PNDM_ORDER = 4;

export class PndmScheduler extends BaseScheduler {
  readonly name = 'pndm';
  readonly predictionType: 'epsilon' | 'v_prediction';
  readonly skipPrkSteps: boolean;
  readonly spacing: TimestepSpacing;
  readonly stepsOffset: number;
  readonly finalAlphaCumprod: number;
  private prkTimesteps: number[] = [];
  private counter = 0;
  private ets: Float32Array[] = [];
  private curSample: Float32Array | null = null;
  private curModelOutput: Float32Array | null = null;

  constructor(config: SchedulerConfig) {
    const c = resolveConfig(CLASS, config, DEFAULTS);
    super(noiseSchedule(betaConfig(CLASS, c)));
    this.predictionType = checkOneOf(CLASS, 'prediction_type', c.prediction_type, ['epsilon', 'v_prediction'] as const);
    this.skipPrkSteps = c.skip_prk_steps;
    this.spacing = checkSpacing(CLASS, c.timestep_spacing);
    this.stepsOffset = c.steps_offset;
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0]!;
  }

  protected buildTimesteps(steps: number): number[] {
    const n = this.schedule.numTrainTimesteps;
    const ascending = spacedTimesteps(this.spacing, steps, n, this.stepsOffset).map(roundHalfEven).reverse();
    if (this.skipPrkSteps) {
      this.prkTimesteps = [];
      const plms = ascending.slice(0, -1).concat(ascending.slice(-2, -1), ascending.slice(-1));
      return plms.reverse();
    }
    if (ascending.length < PNDM_ORDER) {
      throw new SchedulerConfigError(
        `${CLASS}: the Runge–Kutta warm-up needs at least ${PNDM_ORDER} steps (got ${steps}); ` +
          `use more steps or skip_prk_steps.`,
      );
    }
    const half = Math.floor(Math.floor(n / steps) / 2);
    const points = ascending.slice(-PNDM_ORDER).flatMap((t) => [t, t + half]);
    const repeated = points.slice(0, -1).flatMap((t) => [t, t]);
    this.prkTimesteps = repeated.slice(1, -1).reverse();
    return this.prkTimesteps.concat(ascending.slice(0, -3).reverse());
  }

  protected override resetRun(): void {
    this.counter = 0;
    this.ets = [];
    this.curSample = null;
    this.curModelOutput = null;
  }

  protected stepAt(_i: number, m: Float32Array, t: number, x: Float32Array, _rng: NormalGenerator): Float32Array {
    const out =
      !this.skipPrkSteps && this.counter < this.prkTimesteps.length ? this.stepPrk(m, t, x) : this.stepPlms(m, t, x);
    this.counter++;
    return out;
  }

  private stepPrk(m: Float32Array, t: number, x: Float32Array): Float32Array {
    const n = this.schedule.numTrainTimesteps;
    const diffToPrev = this.counter % 2 ? 0 : Math.floor(Math.floor(n / this.numInferenceSteps) / 2);
    const prevT = t - diffToPrev;
    const from = this.prkTimesteps[Math.floor(this.counter / 4) * 4]!;
    let estimate = m;
    const phase = this.counter % 4;
    if (phase === 0) {
      this.curModelOutput = m.map((v) => v / 6);
      this.ets.push(m.slice());
      this.curSample = x.slice();
    } else if (phase === 3) {
      const acc = this.curModelOutput!;
      estimate = m.map((v, k) => acc[k]! + v / 6);
      this.curModelOutput = null;
    } else {
      const acc = this.curModelOutput!;
      this.curModelOutput = acc.map((a, k) => a + m[k]! / 3);
    }
    return this.transfer(this.curSample ?? x, from, prevT, estimate);
  }

  private stepPlms(m: Float32Array, t: number, x: Float32Array): Float32Array {
    const ratio = Math.floor(this.schedule.numTrainTimesteps / this.numInferenceSteps);
    let from = t;
    let prevT = t - ratio;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(m.slice());
    } else {
      prevT = t;
      from = t + ratio;
    }
    const e = this.ets;
    const e1 = e[e.length - 1]!;
    let sample = x;
    let estimate: Float32Array;
    if (e.length === 1 && this.counter === 0) {
      estimate = m;
      this.curSample = x.slice();
    } else if (e.length === 1 && this.counter === 1) {
      estimate = m.map((v, k) => (v + e1[k]!) / 2);
      sample = this.curSample!;
      this.curSample = null;
    } else if (e.length === 2) {
      const e2 = e[0]!;
      estimate = e1.map((v, k) => (3 * v - e2[k]!) / 2);
    } else if (e.length === 3) {
      const [e3, e2] = e as [Float32Array, Float32Array];
      estimate = e1.map((v, k) => (23 * v - 16 * e2[k]! + 5 * e3[k]!) / 12);
    } else {
      const [e4, e3, e2] = e as [Float32Array, Float32Array, Float32Array];
      estimate = e1.map((v, k) => (1 / 24) * (55 * v - 59 * e2[k]! + 37 * e3[k]! - 9 * e4[k]!));
    }
    return this.transfer(sample, from, prevT, estimate);
  }

  /** Formula (9): from timestep t to prevT with the noise estimate e (`_get_prev_sample`). */
  private transfer(x: Float32Array, t: number, prevT: number, e: Float32Array): Float32Array {
    const a = alphaAt(this.schedule, t, this.name);
    const aPrev = prevT >= 0 ? alphaAt(this.schedule, prevT, this.name) : this.finalAlphaCumprod;
    const b = 1 - a;
    const bPrev = 1 - aPrev;
    const sampleCoeff = Math.sqrt(aPrev / a);
    const denom = a * Math.sqrt(bPrev) + Math.sqrt(a * b * aPrev);
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(b);
    const v = this.predictionType === 'v_prediction';
    return x.map((xk, k) => {
      const ek = v ? sqrtA * e[k]! + sqrtB * xk : e[k]!;
      return sampleCoeff * xk - ((aPrev - a) * ek) / denom;
    });
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    return addNoiseDdpm(this.schedule, original, noise, t, this.name);
  }
}
