/**
 * The numerical ground all schedulers share: the training noise schedule (betas → ᾱ), the σ table, the spacing of
 * inference timesteps, Karras sigmas, and the numpy / torch primitives diffusers builds them with.
 *
 * Timesteps must equal diffusers' exactly (they select table rows and are the UNet's time input), so the numpy
 * primitives are reproduced operation for operation: `np.linspace` (i·step + start, last = stop), `np.arange` with a
 * float step (numpy fills start + i·(x₁ − x₀)), `np.round` (half to even), `np.interp`.
 *
 * Precision: diffusers holds betas, ᾱ and σ in float32 tensors. They are stored here as Float32Array and each
 * float32 torch operation is rounded with Math.fround, so the tables agree with diffusers' to within an ulp (torch's
 * vectorised `linspace` may round the last bit of a beta differently). `torch.cumprod` on CPU accumulates in double,
 * rounding each output to float32, and so does `alphasCumprod`.
 */
import { SchedulerConfigError } from './errors';
import type { BetaSchedule, SchedulerConfig, TimestepSpacing } from './types';

const f32 = Math.fround;

/** `numpy.linspace(start, stop, num, endpoint)` in float64, element for element. */
export function npLinspace(start: number, stop: number, num: number, endpoint = true): number[] {
  const div = endpoint ? num - 1 : num;
  const delta = stop - start;
  const out: number[] = [];
  const step = div > 0 ? delta / div : NaN;
  for (let i = 0; i < num; i++) {
    if (div <= 0) out.push(i * delta + start);
    else if (step === 0) out.push((i / div) * delta + start);
    else out.push(i * step + start);
  }
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** `numpy.arange(start, stop, step)` with a float step: numpy fills element i with start + i·((start + step) − start). */
export function npArange(start: number, stop: number, step: number): number[] {
  const length = Math.ceil((stop - start) / step);
  const out: number[] = [];
  if (!(length > 0)) return out;
  out.push(start);
  if (length === 1) return out;
  const second = start + step;
  out.push(second);
  const delta = second - start;
  for (let i = 2; i < length; i++) out.push(start + i * delta);
  return out;
}

/** `numpy.round` / `rint`: to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `numpy.interp(x, arange(len(fp)), fp)`: linear interpolation in a table indexed by integers, clamped at the ends. */
export function npInterp(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0]!;
  if (x >= last) return fp[last]!;
  const j = Math.floor(x);
  if (j === x) return fp[j]!;
  const slope = fp[j + 1]! - fp[j]!;
  return slope * (x - j) + fp[j]!;
}

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)`: float32 step (end − start) / (steps − 1); the first half
 * counts up from start, the second half down from end.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  }
  return out;
}

/** The config keys that define the training noise schedule, resolved. */
export interface BetaConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  trained_betas: readonly number[] | null;
}

/** The training noise schedule: β_t and ᾱ_t = Π_{s≤t} (1 − β_s), t = 0 … num_train_timesteps − 1. */
export interface NoiseSchedule {
  readonly numTrainTimesteps: number;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
}

/** GLIDE's cosine schedule (`betas_for_alpha_bar`): β_i = min(1 − ᾱ((i+1)/N) / ᾱ(i/N), 0.999), in double. */
function cosineBetas(n: number): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float32Array(n);
  for (let i = 0; i < n; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
  return betas;
}

function cumprod(alphas: Float32Array): Float32Array {
  const out = new Float32Array(alphas.length);
  let acc = 1;
  for (let i = 0; i < alphas.length; i++) {
    acc *= alphas[i]!;
    out[i] = acc;
  }
  return out;
}

function oneMinus(values: Float32Array): Float32Array {
  return values.map((v) => 1 - v);
}

/**
 * `rescale_zero_terminal_snr` (Lin et al. 2023, Algorithm 1): shift and scale √ᾱ so that √ᾱ_T = 0 while √ᾱ_0 is kept,
 * then convert back to betas; float32 as in diffusers.
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const sqrtBar = cumprod(oneMinus(betas)).map(Math.sqrt);
  const first = sqrtBar[0]!;
  const last = sqrtBar[sqrtBar.length - 1]!;
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((v) => {
    const shifted = f32(f32(v - last) * scale);
    return shifted * shifted;
  });
  const alphas = bar.map((v, i) => (i === 0 ? v : v / bar[i - 1]!));
  return oneMinus(alphas);
}

/** Betas and ᾱ as a diffusers scheduler's `__init__` computes them. */
export function noiseSchedule(config: BetaConfig, rescaleZeroSnr = false): NoiseSchedule {
  const n = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas) {
    if (config.trained_betas.length !== n) {
      throw new SchedulerConfigError(
        `trained_betas has ${config.trained_betas.length} values but num_train_timesteps is ${n}; fix the scheduler config.`,
      );
    }
    betas = Float32Array.from(config.trained_betas);
  } else if (config.beta_schedule === 'linear') {
    betas = torchLinspaceF32(config.beta_start, config.beta_end, n);
  } else if (config.beta_schedule === 'scaled_linear') {
    betas = torchLinspaceF32(config.beta_start ** 0.5, config.beta_end ** 0.5, n).map((b) => b * b);
  } else {
    betas = cosineBetas(n);
  }
  if (rescaleZeroSnr) betas = rescaleZeroTerminalSnr(betas);
  return { numTrainTimesteps: n, betas, alphasCumprod: cumprod(oneMinus(betas)) };
}

/** diffusers' `rescale_betas_zero_snr` leaves ᾱ_T = 0, an infinite σ; the σ-space classes set it to 2⁻²⁴. */
export function schedulePositiveTerminal(schedule: NoiseSchedule, rescaled: boolean): NoiseSchedule {
  if (rescaled) schedule.alphasCumprod[schedule.numTrainTimesteps - 1] = 2 ** -24;
  return schedule;
}

/** σ_t = √((1 − ᾱ_t) / ᾱ_t), the noise level of the variance-exploding view (Euler, DPM), float32. */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => Math.sqrt(f32(f32(1 - a) / a)));
}

/**
 * The 'leading' / 'trailing' / 'linspace' timestep families of Lin et al. (2023, table 2), as DDIM, Euler, PNDM
 * compute them: `count` values in descending order, float64 (callers cast as their class does).
 */
export function spacedTimesteps(spacing: TimestepSpacing, count: number, numTrain: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') return npLinspace(0, numTrain - 1, count).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / count);
    const out: number[] = [];
    for (let i = count - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
    return out;
  }
  return npArange(numTrain, 0, -numTrain / count).map((t) => roundHalfEven(t) - 1);
}

/** Karras et al. (2022) noise levels: σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, ρ = 7, float64. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return npLinspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/**
 * diffusers' `_sigma_to_t`: the fractional timestep whose σ is `sigma`, by linear interpolation in log σ between the
 * neighbouring rows of the training table (`logSigmas` = float32 log σ_t, increasing in t).
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  // numpy: lo − log σ is float64 (log σ is), lo − hi stays float32 (both are).
  const w = Math.min(Math.max((lo - logSigma) / f32(lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/** Float32 log σ of the training table, as `np.log` of a float32 array gives it. */
export function logSigmasF32(sigmas: Float32Array): Float32Array {
  return sigmas.map(Math.log);
}

const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];
const SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];

type Defaults = Record<string, number | boolean | string | null>;

/**
 * The config of one diffusers class: each key the class accepts, from `config` where present (null counts as
 * absent) else the class default; other keys of `config` are ignored, as `from_config` ignores them. Keys whose
 * value selects a method not implemented here (`fixed`) must keep their default; other values must have the type of
 * their default (a number where the default is null).
 */
export function resolveConfig<D extends Defaults>(
  className: string,
  config: SchedulerConfig,
  defaults: D,
  fixed: readonly (keyof D & string)[] = [],
): D & { trained_betas: readonly number[] | null } {
  const source = config as Record<string, unknown>;
  const out: Record<string, unknown> = { trained_betas: null };
  for (const [key, fallback] of Object.entries(defaults)) {
    const value = source[key];
    if (value === undefined || value === null) {
      out[key] = fallback;
    } else if ((fixed as readonly string[]).includes(key)) {
      if (value !== fallback) {
        throw new SchedulerConfigError(
          `${className}: ${key} = ${JSON.stringify(value)} is not supported by this engine ` +
            `(only ${JSON.stringify(fallback)}); remove it from the scheduler config or pick another scheduler.`,
        );
      }
      out[key] = value;
    } else if (typeof value !== (fallback === null ? 'number' : typeof fallback)) {
      throw new SchedulerConfigError(
        `${className}: ${key} should be a ${fallback === null ? 'number' : typeof fallback} but the scheduler ` +
          `config has ${JSON.stringify(value)}.`,
      );
    } else {
      out[key] = value;
    }
  }
  const betas = source['trained_betas'];
  if (betas !== undefined && betas !== null) {
    if (!Array.isArray(betas) || betas.some((b) => typeof b !== 'number' || !(b > 0 && b < 1))) {
      throw new SchedulerConfigError(`${className}: trained_betas must be a list of numbers in (0, 1).`);
    }
    out['trained_betas'] = betas;
  }
  return out as D & { trained_betas: readonly number[] | null };
}

/** Throws unless `value` is one of `allowed`; narrows its type. */
export function checkOneOf<T extends string>(
  className: string,
  key: string,
  value: string,
  allowed: readonly T[],
): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new SchedulerConfigError(
      `${className}: ${key} "${value}" is not supported; use one of ${allowed.map((a) => `"${a}"`).join(', ')}.`,
    );
  }
  return value as T;
}

/** Checks the keys every class shares and returns the training schedule's part of the config. */
export function betaConfig(
  className: string,
  c: { num_train_timesteps: number; beta_start: number; beta_end: number; beta_schedule: string; trained_betas: readonly number[] | null },
): BetaConfig {
  if (!Number.isInteger(c.num_train_timesteps) || c.num_train_timesteps < 2) {
    throw new SchedulerConfigError(`${className}: num_train_timesteps must be an integer ≥ 2, not ${c.num_train_timesteps}.`);
  }
  return {
    num_train_timesteps: c.num_train_timesteps,
    beta_start: c.beta_start,
    beta_end: c.beta_end,
    beta_schedule: checkOneOf(className, 'beta_schedule', c.beta_schedule, BETA_SCHEDULES),
    trained_betas: c.trained_betas,
  };
}

export function checkSpacing(className: string, value: string): TimestepSpacing {
  return checkOneOf(className, 'timestep_spacing', value, SPACINGS);
}
