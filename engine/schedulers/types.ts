/**
 * Shared types of the diffusion schedulers.
 *
 * `SchedulerConfig` (engine/models/config.ts) holds the keys of a diffusers `scheduler_config.json` under their
 * diffusers names. Every key is optional: a missing key takes the default of the diffusers class the scheduler
 * reproduces, exactly as `Class.from_config(config)` fills it in, and keys that class does not accept are ignored.
 */

export type SchedulerName = 'ddim' | 'euler' | 'euler-a' | 'dpm++2m' | 'pndm' | 'lcm';

export const SCHEDULER_NAMES: readonly SchedulerName[] = ['ddim', 'euler', 'euler-a', 'dpm++2m', 'pndm', 'lcm'];

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

export type { SchedulerConfig } from '../models/config';

/** Options chosen by the user rather than the model folder. */
export interface SchedulerOptions {
  /** Karras sigmas (sets `use_karras_sigmas`); for 'dpm++2m' and 'euler', whose diffusers classes have it. */
  karras?: boolean;
  /** DDIM: η, the weight of fresh noise per step (0 = deterministic DDIM, 1 = DDPM-like). Default 0. */
  eta?: number;
}

export interface SetTimestepsOptions {
  /**
   * img2img: the fraction of the schedule to run, in (0, 1]. As diffusers' img2img `get_timesteps`:
   * init = min(floor(steps·strength), steps), the run starts at index steps − init of the full schedule.
   * LCM takes it into its own schedule instead (`LCMScheduler.set_timesteps(strength=…)`), as diffusers' LCM
   * img2img pipeline does. Default 1.
   */
  strength?: number;
}

/** A seeded source of standard normal samples (see random.ts). */
export interface NormalGenerator {
  /** The next `n` draws from N(0, 1). */
  normal(n: number): Float32Array;
}

/**
 * A diffusion sampler over flat Float32Array latents (any layout: every operation is elementwise; a batch is
 * simply a longer array). Usage, as a diffusers pipeline does:
 *
 * ```
 * s.setTimesteps(steps);                       // or { strength } for img2img
 * latents = noise × s.initNoiseSigma;          // txt2img; img2img: s.addNoise(image, noise, s.timesteps[0])
 * for (const t of s.timesteps) {
 *   const eps = unet(s.scaleModelInput(latents, t), t);
 *   latents = s.step(eps, t, latents, rng);
 * }
 * ```
 *
 * Schedulers are stateful (step counter, multistep history): `setTimesteps` starts a new run, and `step` must be
 * called once per entry of `timesteps`, in order.
 */
export interface Scheduler {
  readonly name: SchedulerName;
  /** Timesteps of the run, in the order to step through them (UNet time input; float for Euler's linspace). */
  readonly timesteps: number[];
  /** Standard deviation of the initial noise: txt2img latents are N(0,1) noise times this. */
  readonly initNoiseSigma: number;
  setTimesteps(steps: number, options?: SetTimestepsOptions): void;
  /** The UNet's input for the current step; returns `sample` itself where no scaling applies. */
  scaleModelInput(sample: Float32Array, t: number): Float32Array;
  /** One denoising step: the sample at the next (less noisy) timestep. `rng` is drawn from by stochastic steps. */
  step(modelOutput: Float32Array, t: number, sample: Float32Array, rng: NormalGenerator): Float32Array;
  /** Forward diffusion of clean latents to timestep `t` (img2img: the first timestep of the run). */
  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array;
}
