/**
 * What every scheduler shares: the run's timesteps with img2img's strength applied, the step counter that checks
 * the caller steps through them in order, and the elementwise arithmetic on latents.
 *
 * Precision: latents are float32; each elementwise formula is evaluated in double from float32 inputs and
 * coefficients and rounded once on store, where diffusers rounds after every float32 tensor operation: the two agree
 * to a few float32 ulps per step.
 */
import { ShapeError } from '../gpu/errors';
import { SchedulerConfigError, SchedulerStateError } from './errors';
import type { NoiseSchedule } from './schedule';
import type { NormalGenerator, Scheduler, SchedulerName, SetTimestepsOptions } from './types';

export abstract class BaseScheduler implements Scheduler {
  abstract readonly name: SchedulerName;
  timesteps: number[] = [];
  /** The whole schedule (diffusers' `scheduler.timesteps`); `timesteps` is its tail from `begin` on. */
  protected full: number[] = [];
  /** img2img's first index into `full` (diffusers' `begin_index`). */
  protected begin = 0;
  /** Index into `full` of the next step (diffusers' `step_index`). */
  protected index = 0;
  /** The `steps` of the last `setTimesteps` (diffusers' `num_inference_steps`). */
  protected numInferenceSteps = 0;

  protected constructor(readonly schedule: NoiseSchedule) {}

  get initNoiseSigma(): number {
    return 1;
  }

  setTimesteps(steps: number, options: SetTimestepsOptions = {}): void {
    const strength = options.strength ?? 1;
    const n = this.schedule.numTrainTimesteps;
    if (!Number.isInteger(steps) || steps < 1 || steps > n) {
      throw new SchedulerConfigError(`${this.name}: steps must be an integer from 1 to ${n}, not ${steps}.`);
    }
    if (!(strength > 0 && strength <= 1)) {
      throw new SchedulerConfigError(`${this.name}: strength must be in (0, 1], not ${strength}.`);
    }
    this.numInferenceSteps = steps;
    this.full = this.buildTimesteps(steps, strength);
    this.begin = this.startIndex(steps, strength);
    this.timesteps = this.full.slice(this.begin);
    this.index = this.begin;
    this.resetRun();
  }

  /** The whole schedule for `steps` inference steps, in diffusers' order and values. */
  protected abstract buildTimesteps(steps: number, strength: number): number[];

  /** Clears the per-run state of multistep methods. */
  protected resetRun(): void {}

  /** img2img's `get_timesteps`: run the last min(floor(steps·strength), steps) steps. */
  protected startIndex(steps: number, strength: number): number {
    const init = Math.min(Math.floor(steps * strength), steps);
    if (init < 1) {
      throw new SchedulerConfigError(
        `${this.name}: strength ${strength} × ${steps} steps leaves no step to run; raise the strength or the steps.`,
      );
    }
    return steps - init;
  }

  /** Checks `t` is the next timestep of the run and returns its index into `full`. */
  protected current(t: number, caller: string): number {
    if (this.full.length === 0) {
      throw new SchedulerStateError(`${this.name}: call setTimesteps before ${caller}.`);
    }
    if (this.index >= this.full.length) {
      throw new SchedulerStateError(
        `${this.name}: ${caller} after the last of ${this.timesteps.length} steps; call setTimesteps to start a new run.`,
      );
    }
    const expected = this.full[this.index]!;
    if (t !== expected) {
      throw new SchedulerStateError(
        `${this.name}: ${caller} was given timestep ${t} but the next timestep of the run is ${expected}; ` +
          `step through scheduler.timesteps in order.`,
      );
    }
    return this.index;
  }

  scaleModelInput(sample: Float32Array, t: number): Float32Array {
    this.current(t, 'scaleModelInput');
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, rng: NormalGenerator): Float32Array {
    sameLength(this.name, modelOutput, sample);
    const i = this.current(t, 'step');
    const out = this.stepAt(i, modelOutput, t, sample, rng);
    this.index++;
    return out;
  }

  /** The update of step `i` (index into `full`), at timestep `t`. */
  protected abstract stepAt(
    i: number,
    modelOutput: Float32Array,
    t: number,
    sample: Float32Array,
    rng: NormalGenerator,
  ): Float32Array;

  abstract addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array;
}

/**
 * diffusers' `alphas_cumprod[t]` for an integer timestep. A negative t indexes from the end as Python does: diffusers'
 * 'trailing' spacing yields a last timestep of −1 for some step counts (61, 103, …: numpy's arange overshoots by
 * one element), and this reproduces what diffusers then computes.
 */
export function alphaAt(schedule: NoiseSchedule, t: number, name: string): number {
  const n = schedule.numTrainTimesteps;
  if (!Number.isInteger(t) || t < -n || t >= n) {
    throw new SchedulerStateError(`${name}: timestep ${t} is not an integer in [0, ${n}).`);
  }
  return schedule.alphasCumprod[t < 0 ? t + n : t]!;
}

/**
 * DDPM forward diffusion q(x_t | x_0) = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (`DDPMScheduler.add_noise`), used by DDIM, PNDM, LCM.
 */
export function addNoiseDdpm(
  schedule: NoiseSchedule,
  original: Float32Array,
  noise: Float32Array,
  t: number,
  name: string,
): Float32Array {
  sameLength(name, original, noise);
  const a = alphaAt(schedule, t, name);
  const sqrtA = Math.fround(Math.sqrt(a));
  const sqrtB = Math.fround(Math.sqrt(Math.fround(1 - a)));
  return original.map((x, i) => sqrtA * x + sqrtB * noise[i]!);
}

export function sameLength(name: string, a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) {
    throw new ShapeError(`${name}: the two latent arrays have ${a.length} and ${b.length} elements; they must match.`);
  }
}

/** The draws of a stochastic step, checked for length. */
export function drawNoise(rng: NormalGenerator, n: number, name: string): Float32Array {
  const noise = rng.normal(n);
  if (noise.length !== n) throw new ShapeError(`${name}: the generator returned ${noise.length} values for ${n}.`);
  return noise;
}
