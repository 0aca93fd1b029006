/**
 * CPU references of engine/ops/winograd.ts and engine/ops/winograd4.ts: stride-1 3×3 convolution by Winograd
 * F(m×m, 3×3) from transformed weights u [α², Cout, Cin] (α = m + 2, U = G g Gᵀ, ξ = α·i + j outermost): per m×m
 * output tile V = Bᵀ d B on the α×α input patch, M = Σ_ci V ⊙ U, y = Aᵀ M A; fused nearest upsampling (2× or to a
 * size), bias and residual as in engine/ref/conv2d.ts.
 * Plain NHWC Float32Arrays, accumulating in f64, so it isolates the GPU kernels' f32 rounding.
 */
import { nearestIndex, type Conv3x3RefOptions, type Nhwc } from './conv2d';

export type WinogradRefOptions = Omit<Conv3x3RefOptions, 'stride' | 'padding' | 'weightLayout'>;

/** Bᵀ (α×α) and Aᵀ (m×α) of one F(m×m, 3×3). */
export interface WinogradRefMatrices {
  bt: readonly (readonly number[])[];
  at: readonly (readonly number[])[];
}

const F2: WinogradRefMatrices = {
  bt: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  at: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
};

/** The convolution by the Winograd algorithm with these Bᵀ and Aᵀ: y [B, H̃, W̃, Cout]. */
export function conv3x3WinogradWith(
  { bt, at }: WinogradRefMatrices,
  x: Float32Array,
  [batch, h, w, cin]: Nhwc,
  u: Float32Array,
  cout: number,
  opts: WinogradRefOptions = {},
): Float32Array {
  const n = bt.length;
  const m = at.length;
  const up = opts.upsample ?? false;
  const [hv, wv] = up === true ? [2 * h, 2 * w] : up === false ? [h, w] : up;
  const [ho, wo] = [hv, wv];
  const y = new Float32Array(batch * ho * wo * cout);
  const d = new Float64Array(n * n * cin);
  const v = new Float64Array(n * n * cin);
  const mt = new Float64Array(n * n);
  for (let b = 0; b < batch; b++) {
    for (let ty = 0; ty < ho; ty += m) {
      for (let tx = 0; tx < wo; tx += m) {
        d.fill(0);
        for (let r = 0; r < n; r++) {
          const vy = ty - 1 + r;
          if (vy < 0 || vy >= hv) continue;
          for (let c = 0; c < n; c++) {
            const vx = tx - 1 + c;
            if (vx < 0 || vx >= wv) continue;
            const base = ((b * h + nearestIndex(vy, h, hv)) * w + nearestIndex(vx, w, wv)) * cin;
            for (let ci = 0; ci < cin; ci++) d[(r * n + c) * cin + ci] = x[base + ci]!;
          }
        }
        v.fill(0);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            for (let r = 0; r < n; r++) {
              for (let c = 0; c < n; c++) {
                const f = bt[i]![r]! * bt[j]![c]!;
                if (f === 0) continue;
                for (let ci = 0; ci < cin; ci++) v[(i * n + j) * cin + ci]! += f * d[(r * n + c) * cin + ci]!;
              }
            }
          }
        }
        for (let co = 0; co < cout; co++) {
          for (let xi = 0; xi < n * n; xi++) {
            let sum = 0;
            for (let ci = 0; ci < cin; ci++) sum += v[xi * cin + ci]! * u[(xi * cout + co) * cin + ci]!;
            mt[xi] = sum;
          }
          for (let dy = 0; dy < m && ty + dy < ho; dy++) {
            for (let dx = 0; dx < m && tx + dx < wo; dx++) {
              let sum = opts.bias?.[co] ?? 0;
              for (let r = 0; r < n; r++) {
                for (let c = 0; c < n; c++) sum += at[dy]![r]! * at[dx]![c]! * mt[r * n + c]!;
              }
              const pixel = (b * ho + ty + dy) * wo + tx + dx;
              y[pixel * cout + co] = sum + (opts.residual?.[pixel * cout + co] ?? 0);
            }
          }
        }
      }
    }
  }
  return y;
}

/** F(2×2, 3×3) from u [16, Cout, Cin]. */
export function conv3x3Winograd(x: Float32Array, shape: Nhwc, u: Float32Array, cout: number, opts: WinogradRefOptions = {}): Float32Array {
  return conv3x3WinogradWith(F2, x, shape, u, cout, opts);
}
