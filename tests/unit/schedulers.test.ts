/**
 * Schedulers against diffusers: the fixture pipelines' timesteps exactly, and values derived by hand from the
 * formulas of the diffusers classes (noise tables in closed form, single steps, and whole runs with a "perfect"
 * model, which every sampler here must carry along the exact noising trajectory).
 *
 * Tolerances (relative to the largest magnitude): the tables are float32 as in diffusers, so checks against
 * double-precision closed forms allow 2e-6 per value (1e-5 for ᾱ at the end of a 1000-term float32 cumulative
 * product); whole runs in float32 allow 2e-5; each case prints nothing and asserts the measured error.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createGenerator,
  createScheduler,
  DdimScheduler,
  DpmSolverMultistepScheduler,
  EulerAncestralScheduler,
  EulerScheduler,
  LcmScheduler,
  PndmScheduler,
  SchedulerConfigError,
  SchedulerStateError,
  type NormalGenerator,
  type Scheduler,
  type SchedulerConfig,
  type SchedulerName,
} from '../../engine/schedulers';
import { npArange, npLinspace, roundHalfEven } from '../../engine/schedulers/schedule';
import { randomArray, relativeError } from '../helpers/gpu';

interface PipelineCase {
  scheduler: SchedulerName;
  scheduler_config: SchedulerConfig;
  timesteps: number[];
  steps: { t: number }[];
}

const FIXTURES = new URL('../../../shared/fixtures/tiny-sd1/', import.meta.url);
const cases = (JSON.parse(readFileSync(new URL('cases.json', FIXTURES), 'utf8')) as { pipeline: PipelineCase[] }).pipeline;

/** Stable Diffusion's scheduler settings as the fixture pipelines passed them (no timestep_spacing: class default). */
const SD: SchedulerConfig = cases[0]!.scheduler_config;

/** ᾱ_t in double from the closed form of SD's scaled_linear schedule: β_i = (√b₀ + i(√b₁ − √b₀)/999)². */
function sdAlphasCumprod(): number[] {
  const lo = Math.sqrt(0.00085);
  const hi = Math.sqrt(0.012);
  const out: number[] = [];
  let acc = 1;
  for (let i = 0; i < 1000; i++) {
    const sqrtBeta = lo + ((hi - lo) * i) / 999;
    acc *= 1 - sqrtBeta * sqrtBeta;
    out.push(acc);
  }
  return out;
}
const ACP = sdAlphasCumprod();
const sigmaOf = (a: number) => Math.sqrt((1 - a) / a);
/**
 * The float32 ᾱ table every SD scheduler uses (checked against ACP below). Step formulas are checked against it:
 * σ near t = 0 depends on 1 − ᾱ, where float32 ᾱ carries a relative error of up to 4e-5.
 */
const TABLE = new DdimScheduler(SD).schedule.alphasCumprod;

/** Replays fixed draws, recording how many values each call asked for. */
function replay(draws: Float32Array[]): NormalGenerator & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    normal(n: number) {
      calls.push(n);
      const d = draws[calls.length - 1];
      if (!d || d.length !== n) throw new Error(`unexpected draw ${calls.length} of ${n}`);
      return d;
    },
  };
}

/** A generator that must not be used: deterministic steps draw nothing. */
const NO_NOISE: NormalGenerator = {
  normal() {
    throw new Error('a deterministic step drew noise');
  },
};

const combine = (a: number, x: Float32Array, b: number, y: Float32Array) => x.map((v, i) => a * v + b * y[i]!);

describe('numpy primitives diffusers builds timesteps with', () => {
  it('match numpy element for element (values from numpy 2.4)', () => {
    // np.linspace(0, 999, 5).round() → [0, 250, 500, 749, 999]: 499.5 rounds to even.
    expect(npLinspace(0, 999, 5).map(roundHalfEven)).toEqual([0, 250, 500, 749, 999]);
    // np.linspace(0, 50, 4, endpoint=False) → [0, 12.5, 25, 37.5]
    expect(npLinspace(0, 50, 4, false)).toEqual([0, 12.5, 25, 37.5]);
    expect(roundHalfEven(0.5)).toBe(0);
    expect(roundHalfEven(1.5)).toBe(2);
    expect(roundHalfEven(2.5)).toBe(2);
    // np.arange(1000, 0, -1000/61) has 62 elements, the last -5.68434189e-13 (numpy fills start + i·(x₁ − x₀)).
    const a = npArange(1000, 0, -1000 / 61);
    expect(a.length).toBe(62);
    expect(a[61]).toBe(-5.684341886080801e-13);
    expect(npArange(1000, 0, -1000 / 3)).toEqual([1000, 666.6666666666667, 333.3333333333335]);
  });
});

describe('fixture pipelines (tiny-sd1 cases.json)', () => {
  for (const [n, c] of cases.entries()) {
    it(`case ${n}: ${c.scheduler} timesteps equal diffusers' exactly`, () => {
      const s = createScheduler(c.scheduler, c.scheduler_config);
      // PLMS evaluates its second timestep twice: the UNet is called steps + 1 times.
      const steps = c.scheduler === 'pndm' ? c.timesteps.length - 1 : c.timesteps.length;
      s.setTimesteps(steps);
      expect(s.timesteps).toEqual(c.timesteps);
      expect(c.steps.map((st) => st.t)).toEqual(c.timesteps);
      // σ_max of SD's schedule is the well-known 14.6146 (linspace and trailing spacing start at t = 999).
      const expectedSigma = c.scheduler === 'euler' ? sigmaOf(ACP[999]!) : 1;
      expect(Math.abs(s.initNoiseSigma - expectedSigma) / expectedSigma).toBeLessThan(2e-6);
    });
  }
});

describe('noise tables', () => {
  it('SD scaled_linear ᾱ matches the closed-form product (endpoints and midpoint)', () => {
    const s = new DdimScheduler(SD);
    const acp = s.schedule.alphasCumprod;
    expect(acp[0]).toBe(Math.fround(1 - 0.00085));
    for (const t of [0, 1, 500, 998, 999]) expect(Math.abs(acp[t]! - ACP[t]!) / ACP[t]!).toBeLessThan(1e-5);
  });

  it('linear ᾱ matches Π(1 − β_i) with β linear from 1e-4 to 0.02 (DDIM defaults)', () => {
    const acp = new DdimScheduler({}).schedule.alphasCumprod;
    let acc = 1;
    for (let i = 0; i < 1000; i++) {
      acc *= 1 - (0.0001 + ((0.02 - 0.0001) * i) / 999);
      if (i === 0 || i === 999) expect(Math.abs(acp[i]! - acc) / acc).toBeLessThan(1e-5);
    }
  });

  it('squaredcos_cap_v2 ᾱ telescopes to ᾱ((t+1)/T)/ᾱ(0), the clipped last β = 0.999', () => {
    const s = new DdimScheduler({ beta_schedule: 'squaredcos_cap_v2' });
    const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const t of [0, 100, 500, 900]) {
      const expected = f((t + 1) / 1000) / f(0);
      expect(Math.abs(s.schedule.alphasCumprod[t]! - expected) / expected).toBeLessThan(2e-5);
    }
    expect(s.schedule.betas[999]).toBe(Math.fround(0.999));
  });

  it('trained_betas replace the schedule; rescale_betas_zero_snr makes ᾱ_T = 0 and keeps ᾱ_0', () => {
    const betas = Array.from({ length: 10 }, (_, i) => 0.01 * (i + 1));
    const s = new DdimScheduler({ num_train_timesteps: 10, trained_betas: betas });
    expect(Array.from(s.schedule.betas)).toEqual(betas.map(Math.fround));
    const z = new DdimScheduler({ ...SD, rescale_betas_zero_snr: true });
    expect(z.schedule.alphasCumprod[999]).toBe(0);
    expect(Math.abs(z.schedule.alphasCumprod[0]! - ACP[0]!) / ACP[0]!).toBeLessThan(2e-6);
    // Euler's σ table would be infinite at T: diffusers sets ᾱ_T to 2⁻²⁴ there.
    const e = new EulerScheduler({ ...SD, rescale_betas_zero_snr: true });
    expect(e.schedule.alphasCumprod[999]).toBe(2 ** -24);
    expect(e.initNoiseSigma).toBeCloseTo(Math.sqrt(2 ** 24 - 1), 0);
  });
});

describe('timestep spacing', () => {
  it('ddim: leading with steps_offset, trailing, linspace (hand-computed from the diffusers formulas)', () => {
    const lead = createScheduler('ddim', SD);
    lead.setTimesteps(10);
    expect(lead.timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    const trail = createScheduler('ddim', { ...SD, timestep_spacing: 'trailing' });
    trail.setTimesteps(3); // round(1000, 666.67, 333.33) − 1
    expect(trail.timesteps).toEqual([999, 666, 332]);
    const lin = createScheduler('ddim', { ...SD, timestep_spacing: 'linspace' });
    lin.setTimesteps(4); // round(999, 666, 333, 0)
    expect(lin.timesteps).toEqual([999, 666, 333, 0]);
  });

  it('euler: float linspace timesteps, leading scales the initial noise by √(σ_max² + 1)', () => {
    const s = createScheduler('euler', { ...SD, timestep_spacing: 'linspace' });
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([999, 666, 333, 0]);
    s.setTimesteps(8);
    expect(s.timesteps[1]).toBe(Math.fround(999 - 999 / 7));
    const lead = createScheduler('euler', { ...SD, timestep_spacing: 'leading' });
    lead.setTimesteps(50);
    expect(lead.timesteps[0]).toBe(981);
    const sigma = sigmaOf(ACP[981]!);
    expect(Math.abs(lead.initNoiseSigma - Math.sqrt(sigma * sigma + 1)) / sigma).toBeLessThan(2e-6);
  });

  it('dpm++2m: leading strides by T // (steps + 1)', () => {
    const s = createScheduler('dpm++2m', { ...SD, timestep_spacing: 'leading' });
    s.setTimesteps(4); // stride 200: 800, 600, 400, 200, + steps_offset
    expect(s.timesteps).toEqual([801, 601, 401, 201]);
  });

  it('pndm with the Runge–Kutta warm-up: 12 PRK timesteps then PLMS', () => {
    const s = createScheduler('pndm', { ...SD, skip_prk_steps: false });
    s.setTimesteps(5); // leading [1, 201, 401, 601, 801], half-step 100
    expect(s.timesteps).toEqual([801, 701, 701, 601, 601, 501, 501, 401, 401, 301, 301, 201, 201, 1]);
  });

  it('lcm: the 4-step schedule of the 50-step distillation grid, and img2img strength shortening it', () => {
    const s = createScheduler('lcm', {});
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([999, 759, 499, 259]);
    s.setTimesteps(4, { strength: 0.5 }); // grid 19 … 499, indices floor(0, 6.25, 12.5, 18.75)
    expect(s.timesteps).toEqual([499, 379, 259, 139]);
  });

  it("trailing spacing's numpy overshoot gives diffusers' final timestep −1 (61 steps)", () => {
    const s = createScheduler('euler', { ...SD, timestep_spacing: 'trailing' });
    s.setTimesteps(61);
    expect(s.timesteps.length).toBe(62);
    expect(s.timesteps.at(-1)).toBe(-1);
  });
});

describe('karras sigmas', () => {
  it('dpm++2m: σ from σ_max down to σ_min in ρ = 7 spacing, then 0; integer timesteps from 999 to 0', () => {
    const s = new DpmSolverMultistepScheduler(SD, { karras: true });
    s.setTimesteps(25);
    const sig = Array.from(s.sigmas);
    expect(sig.length).toBe(26);
    expect(sig.at(-1)).toBe(0);
    for (let i = 1; i < sig.length; i++) expect(sig[i]!).toBeLessThan(sig[i - 1]!);
    const max = sigmaOf(TABLE[999]!);
    const min = sigmaOf(TABLE[0]!);
    expect(Math.abs(sig[0]! - max) / max).toBeLessThan(2e-6);
    expect(Math.abs(sig[24]! - min) / min).toBeLessThan(2e-6);
    const mid = (max ** (1 / 7) + 0.5 * (min ** (1 / 7) - max ** (1 / 7))) ** 7;
    expect(Math.abs(sig[12]! - mid) / mid).toBeLessThan(2e-6);
    expect(s.timesteps[0]).toBe(999);
    expect(s.timesteps.at(-1)).toBe(0);
    for (let i = 0; i < 25; i++) {
      expect(Number.isInteger(s.timesteps[i])).toBe(true);
      if (i > 0) expect(s.timesteps[i]!).toBeLessThanOrEqual(s.timesteps[i - 1]!);
    }
  });

  it('euler: Karras timesteps are the fractional t whose interpolated log σ is σ_i', () => {
    const s = new EulerScheduler(SD, { karras: true });
    s.setTimesteps(10);
    for (let i = 1; i < 9; i++) {
      const t = s.timesteps[i]!;
      const j = Math.floor(t);
      const w = t - j;
      const logSigma = (1 - w) * Math.log(sigmaOf(TABLE[j]!)) + w * Math.log(sigmaOf(TABLE[j + 1]!));
      expect(Math.abs(logSigma - Math.log(s.sigmas[i]!))).toBeLessThan(2e-5);
    }
  });
});

describe('single steps against closed forms', () => {
  const n = 257;
  const x = randomArray(n, 1, 2);
  const m = randomArray(n, 2, 1.5);

  it('ddim, η = 0: x′ = √ᾱ′ x̂0 + √(1 − ᾱ′) ε for each prediction type, x̂0 clipped when clip_sample', () => {
    for (const [pred, clip] of [
      ['epsilon', false],
      ['v_prediction', false],
      ['sample', false],
      ['epsilon', true],
    ] as const) {
      const s = createScheduler('ddim', { ...SD, prediction_type: pred, clip_sample: clip });
      s.setTimesteps(10);
      const t = s.timesteps[3]!; // 601 → 501
      const a = TABLE[t]!;
      const ap = TABLE[t - 100]!;
      const expected = x.map((xk, k) => {
        const mk = m[k]!;
        let x0 = pred === 'epsilon' ? (xk - Math.sqrt(1 - a) * mk) / Math.sqrt(a) : pred === 'sample' ? mk : Math.sqrt(a) * xk - Math.sqrt(1 - a) * mk;
        const eps = pred === 'epsilon' ? mk : pred === 'sample' ? (xk - Math.sqrt(a) * mk) / Math.sqrt(1 - a) : Math.sqrt(a) * mk + Math.sqrt(1 - a) * xk;
        if (clip) x0 = Math.min(1, Math.max(-1, x0));
        return Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps;
      });
      for (let i = 0; i < 3; i++) s.step(m, s.timesteps[i]!, x, NO_NOISE);
      expect(relativeError(s.step(m, t, x, NO_NOISE), expected), `${pred} clip=${clip}`).toBeLessThan(2e-6);
    }
  });

  it('ddim, η = 1: the step adds η·√((1−ᾱ′)/(1−ᾱ)·(1 − ᾱ/ᾱ′))·z and shrinks the direction term to match', () => {
    const s = createScheduler('ddim', SD, { eta: 1 });
    s.setTimesteps(10);
    const z = randomArray(n, 3);
    const t = s.timesteps[0]!; // 901 → 801
    const a = TABLE[t]!;
    const ap = TABLE[t - 100]!;
    const std = Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
    const expected = x.map((xk, k) => {
      const x0 = (xk - Math.sqrt(1 - a) * m[k]!) / Math.sqrt(a);
      return Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - std * std) * m[k]! + std * z[k]!;
    });
    const rng = replay([z]);
    expect(relativeError(s.step(m, t, x, rng), expected)).toBeLessThan(2e-6);
    expect(rng.calls).toEqual([n]);
  });

  it('ddim: the last step uses ᾱ_0 (set_alpha_to_one false) or 1 (true) as ᾱ′', () => {
    for (const one of [false, true]) {
      const s = createScheduler('ddim', { ...SD, set_alpha_to_one: one });
      s.setTimesteps(1);
      const a = TABLE[1]!;
      const ap = one ? 1 : TABLE[0]!;
      const expected = x.map((xk, k) => Math.sqrt(ap) * ((xk - Math.sqrt(1 - a) * m[k]!) / Math.sqrt(a)) + Math.sqrt(1 - ap) * m[k]!);
      expect(relativeError(s.step(m, 1, x, NO_NOISE), expected)).toBeLessThan(2e-6);
    }
  });

  it('euler: input scaled by 1/√(σ²+1); x′ = x + m (σ′ − σ) for epsilon', () => {
    const s = createScheduler('euler', SD);
    s.setTimesteps(3); // 999, 499.5, 0
    const sigma0 = sigmaOf(TABLE[999]!);
    expect(relativeError(s.scaleModelInput(x, 999), x.map((v) => v / Math.sqrt(sigma0 * sigma0 + 1)))).toBeLessThan(2e-6);
    s.step(m, 999, x, NO_NOISE);
    // σ at 499.5 is the linear interpolation of σ_499 and σ_500.
    const sigma1 = (sigmaOf(TABLE[499]!) + sigmaOf(TABLE[500]!)) / 2;
    const sigma2 = sigmaOf(TABLE[0]!);
    expect(relativeError(s.step(m, 499.5, x, NO_NOISE), x.map((v, k) => v + m[k]! * (sigma2 - sigma1)))).toBeLessThan(2e-6);
  });

  it('euler ancestral: σ↑ = √(σ′²(σ² − σ′²)/σ²), σ↓ = √(σ′² − σ↑²), x′ = x + m (σ↓ − σ) + σ↑ z', () => {
    const s = createScheduler('euler-a', SD);
    s.setTimesteps(2); // 999, 0 → σ_999, σ_0, 0
    const z = [randomArray(n, 4), randomArray(n, 5)];
    const rng = replay(z);
    const sigma = sigmaOf(TABLE[999]!);
    const next = sigmaOf(TABLE[0]!);
    const up = Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma));
    const down = Math.sqrt(next * next - up * up);
    const x1 = s.step(m, 999, x, rng);
    expect(relativeError(x1, x.map((v, k) => v + m[k]! * (down - sigma) + up * z[0]![k]!))).toBeLessThan(2e-6);
    // Last step: σ′ = 0, so no noise reaches the result, though one draw is still taken (as diffusers draws it).
    const x2 = s.step(m, 0, x1, rng);
    expect(relativeError(x2, x1.map((v, k) => v - next * m[k]!))).toBeLessThan(2e-6);
    expect(rng.calls).toEqual([n, n]);
  });

  it('dpm++2m midpoint second-order step, computed from λ = log α − log σ', () => {
    const s = createScheduler('dpm++2m', SD);
    s.setTimesteps(4); // 999, 749, 500, 250
    const m0 = randomArray(n, 6);
    const x1 = s.step(m0, 999, x, NO_NOISE);
    const x2 = s.step(m, 749, x1, NO_NOISE);
    const vp = (t: number) => {
      const sg = sigmaOf(TABLE[t]!);
      const alpha = 1 / Math.sqrt(sg * sg + 1);
      return { alpha, sigma: sg * alpha, lambda: Math.log(alpha) - Math.log(sg * alpha) };
    };
    const [a, b, c] = [vp(999), vp(749), vp(500)];
    const d0 = x.map((v, k) => (v - a.sigma * m0[k]!) / a.alpha);
    const expected1 = x.map((v, k) => (b.sigma / a.sigma) * v - b.alpha * (Math.exp(-(b.lambda - a.lambda)) - 1) * d0[k]!);
    expect(relativeError(x1, expected1)).toBeLessThan(2e-6);
    const d1 = x1.map((v, k) => (v - b.sigma * m[k]!) / b.alpha);
    const h = c.lambda - b.lambda;
    const r = (b.lambda - a.lambda) / h;
    const em1 = Math.exp(-h) - 1;
    const expected2 = x1.map(
      (v, k) => (c.sigma / b.sigma) * v - c.alpha * em1 * d1[k]! - 0.5 * c.alpha * em1 * ((d1[k]! - d0[k]!) / r),
    );
    expect(relativeError(x2, expected2)).toBeLessThan(2e-6);
  });

  it('lcm: D = c_out x̂0 + c_skip x, x′ = √ᾱ′ D + √(1−ᾱ′) z, and the last step returns D', () => {
    const s = new LcmScheduler({});
    s.setTimesteps(2); // 999, 499
    const z = randomArray(n, 7);
    const rng = replay([z]);
    const denoised = (t: number, xs: Float32Array) => {
      const a = s.schedule.alphasCumprod[t]!;
      const st = 10 * t;
      const cSkip = 0.25 / (st * st + 0.25);
      const cOut = st / Math.sqrt(st * st + 0.25);
      return xs.map((v, k) => cOut * ((v - Math.sqrt(1 - a) * m[k]!) / Math.sqrt(a)) + cSkip * v);
    };
    const ap = s.schedule.alphasCumprod[499]!;
    const x1 = s.step(m, 999, x, rng);
    expect(relativeError(x1, combine(Math.sqrt(ap), denoised(999, x), Math.sqrt(1 - ap), z))).toBeLessThan(2e-6);
    expect(relativeError(s.step(m, 499, x1, rng), denoised(499, x1))).toBeLessThan(2e-6);
    expect(rng.calls).toEqual([n]);
  });
});

/**
 * A run with a perfect model: latents start on the noising trajectory of a clean x0 and a fixed ε, and the model
 * answers with what that (x0, ε) implies. Every deterministic sampler here then lands exactly on the trajectory at
 * each next noise level (DDIM, PLMS, PRK: √ᾱ′ x0 + √(1 − ᾱ′) ε; Euler: x0 + σ′ ε; DPM++: α′ x0 + σ′ ε), whatever
 * the prediction type, so the final latents equal x0 (σ = 0) or √ᾱ_0 x0 + √(1 − ᾱ_0) ε.
 */
describe('whole runs with a perfect model', () => {
  const len = 193;
  const x0 = randomArray(len, 11);
  const eps = randomArray(len, 12);

  function run(s: Scheduler, modelAt: (x: Float32Array, i: number) => Float32Array, start: Float32Array): Float32Array {
    let latents = start;
    s.timesteps.forEach((t, i) => {
      latents = s.step(modelAt(s.scaleModelInput(latents, t), i), t, latents, NO_NOISE);
    });
    return latents;
  }

  /** The model output at ᾱ on the trajectory, for a prediction type (v = √ᾱ ε − √(1−ᾱ) x0). */
  const output = (pred: string, a: number) =>
    pred === 'epsilon' ? eps : pred === 'sample' ? x0 : combine(Math.sqrt(a), eps, -Math.sqrt(1 - a), x0);

  for (const pred of ['epsilon', 'v_prediction', 'sample'] as const) {
    it(`ddim ${pred}`, () => {
      const s = new DdimScheduler({ ...SD, prediction_type: pred, clip_sample: false });
      s.setTimesteps(7);
      const at = (t: number) => s.schedule.alphasCumprod[t]!;
      const start = combine(Math.sqrt(at(s.timesteps[0]!)), x0, Math.sqrt(1 - at(s.timesteps[0]!)), eps);
      const out = run(s, (_, i) => output(pred, at(s.timesteps[i]!)), start);
      const a0 = at(0);
      expect(relativeError(out, combine(Math.sqrt(a0), x0, Math.sqrt(1 - a0), eps))).toBeLessThan(2e-5);
    });

    it(`dpm++2m ${pred}, orders 1–3, midpoint and heun, with and without Karras sigmas`, () => {
      for (const [order, type, karras] of [
        [2, 'midpoint', false],
        [2, 'heun', true],
        [1, 'midpoint', false],
        [3, 'midpoint', true],
      ] as const) {
        const s = new DpmSolverMultistepScheduler({ ...SD, prediction_type: pred, solver_order: order, solver_type: type }, { karras });
        s.setTimesteps(20);
        const vp = (i: number) => 1 / (Number(s.sigmas[i]) ** 2 + 1);
        const start = combine(Math.sqrt(vp(0)), x0, Math.sqrt(1 - vp(0)), eps);
        const out = run(s, (_, i) => output(pred, vp(i)), start);
        expect(relativeError(out, x0), `order ${order} ${type} karras=${karras}`).toBeLessThan(2e-5);
      }
    });
  }

  for (const prk of [false, true]) {
    it(`pndm epsilon ${prk ? 'with PRK warm-up' : 'PLMS'}`, () => {
      const s = new PndmScheduler({ ...SD, skip_prk_steps: !prk });
      s.setTimesteps(10);
      const at = (t: number) => s.schedule.alphasCumprod[t]!;
      const t0 = s.timesteps[0]!;
      const start = combine(Math.sqrt(at(t0)), x0, Math.sqrt(1 - at(t0)), eps);
      // The multistep weights of PLMS (and RK4's) sum to one, so a constant ε keeps every update exact.
      const out = run(s, () => eps, start);
      const a0 = at(0);
      expect(relativeError(out, combine(Math.sqrt(a0), x0, Math.sqrt(1 - a0), eps))).toBeLessThan(2e-5);
    });
  }

  it('pndm v_prediction: the first PLMS step converts v to ε with ᾱ of its timestep', () => {
    // Later PLMS steps mix outputs of several timesteps before converting (as diffusers does), so only the first
    // step is exact for a v model.
    const s = new PndmScheduler({ ...SD, prediction_type: 'v_prediction' });
    s.setTimesteps(10);
    const a = TABLE[901]!;
    const start = combine(Math.sqrt(a), x0, Math.sqrt(1 - a), eps);
    const next = s.step(output('v_prediction', a), 901, start, NO_NOISE);
    const ap = TABLE[801]!;
    expect(relativeError(next, combine(Math.sqrt(ap), x0, Math.sqrt(1 - ap), eps))).toBeLessThan(2e-6);
  });

  for (const pred of ['epsilon', 'v_prediction'] as const) {
    it(`euler ${pred}: x0 + σ ε at every step, x0 at the end`, () => {
      const s = new EulerScheduler({ ...SD, prediction_type: pred });
      s.setTimesteps(9);
      const start = combine(1, x0, Number(s.sigmas[0]), eps);
      const out = run(s, (_, i) => output(pred, 1 / (Number(s.sigmas[i]) ** 2 + 1)), start);
      expect(relativeError(out, x0)).toBeLessThan(2e-5);
    });
  }

  it('dpm++2m heun, orders 2 and 3, is exact once x̂0 is linear in λ (second-order terms checked)', () => {
    for (const order of [2, 3]) {
      const s = new DpmSolverMultistepScheduler({ ...SD, prediction_type: 'sample', solver_order: order, solver_type: 'heun' });
      s.setTimesteps(12);
      const alpha = (i: number) => 1 / Math.sqrt(Number(s.sigmas[i]) ** 2 + 1);
      const sig = (i: number) => alpha(i) * Number(s.sigmas[i]);
      const lambda = (i: number) => Math.log(alpha(i)) - Math.log(sig(i));
      // D(λ) = x0 + (λ − λ₀)·c. The first step is first order (no history yet); from the second on, the multistep
      // updates see two (three) samples of a linear D, which their D₁ (and D₂ = 0) capture exactly. Stop before
      // the final step to σ = 0, which is first order again.
      const c = randomArray(len, 13, 0.05);
      const d = (i: number) => combine(1, x0, lambda(i) - lambda(0), c);
      const x1 = s.step(d(0), s.timesteps[0]!, combine(alpha(0), x0, sig(0), eps), NO_NOISE);
      let latents = x1;
      const e = s.timesteps.length - 1;
      for (let i = 1; i < e; i++) latents = s.step(d(i), s.timesteps[i]!, latents, NO_NOISE);
      // Exact solution of the data-prediction ODE from λ₁: x_e = (σ_e/σ_1) x_1 + α_e [(1 − e^{−h}) D(λ₁) + (h − 1 + e^{−h}) c]
      const h = lambda(e) - lambda(1);
      const d1 = d(1);
      const expected = x1.map(
        (v, k) => (sig(e) / sig(1)) * v + alpha(e) * ((1 - Math.exp(-h)) * d1[k]! + (h - 1 + Math.exp(-h)) * c[k]!),
      );
      expect(relativeError(latents, expected), `order ${order}`).toBeLessThan(2e-5);
    }
  });
});

describe('img2img', () => {
  const x0 = randomArray(64, 21);
  const noise = randomArray(64, 22);

  it('strength keeps the last min(floor(steps·strength), steps) timesteps', () => {
    const s = createScheduler('ddim', SD);
    s.setTimesteps(50, { strength: 0.8 });
    expect(s.timesteps.length).toBe(40);
    expect(s.timesteps[0]).toBe(781);
    s.setTimesteps(10, { strength: 0.7 }); // 10 × 0.7 = 7.000000000000001 → 7
    expect(s.timesteps).toEqual([601, 501, 401, 301, 201, 101, 1]);
    expect(() => s.setTimesteps(3, { strength: 0.2 })).toThrow(SchedulerConfigError);
  });

  it('addNoise: √ᾱ x0 + √(1−ᾱ) n (ddim, pndm, lcm), x0 + σ n (euler), α x0 + σ_t n (dpm++2m)', () => {
    const ddim = createScheduler('ddim', SD);
    ddim.setTimesteps(10, { strength: 0.5 });
    const a = TABLE[ddim.timesteps[0]!]!;
    expect(relativeError(ddim.addNoise(x0, noise, ddim.timesteps[0]!), combine(Math.sqrt(a), x0, Math.sqrt(1 - a), noise))).toBeLessThan(2e-6);

    const euler = createScheduler('euler', { ...SD, timestep_spacing: 'leading' });
    euler.setTimesteps(10, { strength: 0.5 }); // leading, from index 5: t = 401
    expect(euler.timesteps[0]).toBe(401);
    const sigma = sigmaOf(TABLE[401]!);
    expect(relativeError(euler.addNoise(x0, noise, 401), combine(1, x0, sigma, noise))).toBeLessThan(2e-6);
    expect(() => euler.addNoise(x0, noise, 501)).toThrow(SchedulerStateError);

    const dpm = createScheduler('dpm++2m', SD);
    dpm.setTimesteps(4, { strength: 0.5 }); // 999, 749, 500, 250 → from 500
    const sd = sigmaOf(TABLE[500]!);
    const alpha = 1 / Math.sqrt(sd * sd + 1);
    expect(relativeError(dpm.addNoise(x0, noise, 500), combine(alpha, x0, alpha * sd, noise))).toBeLessThan(2e-6);
  });

  it('dpm++2m started mid-schedule takes a first-order step first (no history), as diffusers does', () => {
    const m = randomArray(64, 23);
    const s = createScheduler('dpm++2m', SD);
    s.setTimesteps(4, { strength: 0.5 });
    const firstOrder = createScheduler('dpm++2m', { ...SD, solver_order: 1 });
    firstOrder.setTimesteps(4, { strength: 0.5 });
    expect(Array.from(s.step(m, 500, x0, NO_NOISE))).toEqual(Array.from(firstOrder.step(m, 500, x0, NO_NOISE)));
  });
});

describe('usage errors and config handling', () => {
  const x = randomArray(16, 31);

  it('steps must follow scheduler.timesteps in order', () => {
    const s = createScheduler('euler', SD);
    expect(() => s.step(x, 999, x, NO_NOISE)).toThrow(SchedulerStateError);
    s.setTimesteps(2);
    expect(() => s.step(x, 0, x, NO_NOISE)).toThrow(/next timestep of the run is 999/);
    s.step(x, 999, x, NO_NOISE);
    s.step(x, 0, x, NO_NOISE);
    expect(() => s.step(x, 0, x, NO_NOISE)).toThrow(/after the last of 2 steps/);
    expect(() => s.step(x, 999, new Float32Array(3), NO_NOISE)).toThrow(/must match/);
  });

  it('keys a class does not accept are ignored; wrong types and unimplemented methods are refused', () => {
    const s = createScheduler('ddim', { ...SD, _class_name: 'PNDMScheduler', use_karras_sigmas: true } as SchedulerConfig);
    s.setTimesteps(2);
    expect(s.timesteps).toEqual([501, 1]);
    expect(() => createScheduler('ddim', { num_train_timesteps: '1000' } as unknown as SchedulerConfig)).toThrow(/should be a number/);
    expect(() => createScheduler('ddim', { thresholding: true } as unknown as SchedulerConfig)).toThrow(/not supported/);
    expect(() => createScheduler('ddim', { beta_schedule: 'sigmoid' } as unknown as SchedulerConfig)).toThrow(/beta_schedule/);
    expect(() => createScheduler('euler-a', { prediction_type: 'sample' })).toThrow(/prediction_type/);
    expect(() => createScheduler('dpm++2m', { algorithm_type: 'sde-dpmsolver++' } as unknown as SchedulerConfig)).toThrow(SchedulerConfigError);
    expect(() => createScheduler('pndm', SD, { karras: true })).toThrow(/Karras/);
    expect(() => createScheduler('euler', SD, { eta: 0.5 })).toThrow(/eta/);
    expect(() => createScheduler('pndm', { skip_prk_steps: false }).setTimesteps(3)).toThrow(/at least 4 steps/);
    expect(() => createScheduler('lcm', {}).setTimesteps(51)).toThrow(SchedulerConfigError);
  });

  it('every name builds its class; deterministic schedulers leave the generator alone', () => {
    const classes = { ddim: DdimScheduler, euler: EulerScheduler, 'euler-a': EulerAncestralScheduler, 'dpm++2m': DpmSolverMultistepScheduler, pndm: PndmScheduler, lcm: LcmScheduler };
    for (const [name, cls] of Object.entries(classes)) {
      const s = createScheduler(name as SchedulerName, SD);
      expect(s).toBeInstanceOf(cls);
      expect(s.name).toBe(name);
    }
    const g = createGenerator(5);
    const s = createScheduler('euler-a', SD);
    s.setTimesteps(3);
    let latents = x;
    for (const t of s.timesteps) latents = s.step(x, t, latents, g);
    expect(latents.every(Number.isFinite)).toBe(true);
  });
});
