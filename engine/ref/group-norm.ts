/**
 * CPU reference of engine/ops/group-norm.ts, in f64 with two-pass (mean, then centred) statistics. x is
 * channels-last with `shape` [B, ..., C]; add, when given, is [B, C] and summed with x in f32 (as PyTorch's h + temb).
 */
import { siluScalar } from './unary';

export interface GroupNormOptions {
  groups: number;
  eps: number;
  silu?: boolean;
  add?: Float32Array;
}

export function groupNorm(x: Float32Array, shape: readonly number[], gamma: Float32Array, beta: Float32Array, opts: GroupNormOptions): Float32Array {
  const batch = shape[0]!;
  const channels = shape[shape.length - 1]!;
  const spatial = x.length / (batch * channels);
  const groupChannels = channels / opts.groups;
  const n = spatial * groupChannels;
  const y = new Float32Array(x.length);
  const value = (b: number, s: number, c: number) => 
    opts.add ? Math.fround(x[(b * spatial + s) * channels + c]! + opts.add[b * channels + c]!) : x[(b * spatial + s) * channels + c]!;
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < opts.groups; g++) {
      const c0 = g * groupChannels;
      let sum = 0;
      for (let s = 0; s < spatial; s++) for (let c = c0; c < c0 + groupChannels; c++) sum += value(b, s, c);
      const mean = sum / n;
      let squares = 0;
      for (let s = 0; s < spatial; s++) for (let c = c0; c < c0 + groupChannels; c++) squares += (value(b, s, c) - mean) ** 2;
      const rstd = 1 / Math.sqrt(squares / n + opts.eps);
      for (let s = 0; s < spatial; s++) {
        for (let c = c0; c < c0 + groupChannels; c++) {
          const v = (value(b, s, c) - mean) * rstd * gamma[c]! + beta[c]!;
          y[(b * spatial + s) * channels + c] = opts.silu ? siluScalar(v) : v;
        }
      }
    }
  }
  return y;
}

/**
 * Reference of `groupNormBands`: bands[i] is [B, S_i, C] flattened (S_i spatial positions); the result is the
 * GroupNorm of their join along the spatial axis, split back into the bands.
 */
export function groupNormBands(bands: readonly Float32Array[], batch: number, channels: number, gamma: Float32Array, beta: Float32Array, opts: Omit<GroupNormOptions, 'add'>): Float32Array[] {
  const spatial = bands.map((b) => b.length / (batch * channels));
  const total = spatial.reduce((a, b) => a + b, 0);
  const joined = new Float32Array(batch * total * channels);
  const place = (copy: (whole: number, band: number, len: number, i: number) => void) => {
    for (let b = 0; b < batch; b++) {
      let start = 0;
      bands.forEach((_, i) => {
        const len = spatial[i]! * channels;
        copy((b * total + start) * channels, b * len, len, i);
        start += spatial[i]!;
      });
    }
  };
  place((whole, band, len, i) => joined.set(bands[i]!.subarray(band, band + len), whole));
  const y = groupNorm(joined, [batch, total, channels], gamma, beta, opts);
  const out = bands.map((b) => new Float32Array(b.length));
  place((whole, band, len, i) => out[i]!.set(y.subarray(whole, whole + len), band));
  return out;
}
