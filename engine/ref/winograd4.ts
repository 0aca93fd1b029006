/**
 * CPU reference of engine/ops/winograd4.ts: stride-1 3×3 convolution by Winograd F(4×4, 3×3) from transformed
 * weights u [36, Cout, Cin] (U = G g Gᵀ, ξ = 6i + j outermost): per 4×4 output tile V = Bᵀ d B on the 6×6 input
 * patch, M = Σ_ci V ⊙ U, y = Aᵀ M A; fused nearest upsampling (2× or to a size), bias and residual as in
 * engine/ref/conv2d.ts.
 * Plain NHWC Float32Arrays, accumulating in f64, so it isolates the GPU kernels' f32 rounding.
 */
import { nearestIndex, type Conv3x3RefOptions, type Nhwc } from './conv2d';

const BT = [
  [4, 0, -5, 0, 1, 0],
  [0, -4, -4, 1, 1, 0],
  [0, 4, -4, -1, 1, 0],
  [0, -2, -1, 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 4, 0, -5, 0, 1],
];

const AT = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 0],
  [0, 1, -1, 8, -8, 1],
];

export function conv3x3Winograd4(
  x: Float32Array,
  [batch, h, w, cin]: Nhwc,
  u: Float32Array,
  cout: number,
  opts: Omit<Conv3x3RefOptions, 'stride' | 'padding' | 'weightLayout'> = {},
): Float32Array {
  const up = opts.upsample ?? false;
  const [hv, wv] = up === true ? [2 * h, 2 * w] : up === false ? [h, w] : up;
  const [ho, wo] = [hv, wv];
  const y = new Float32Array(batch * ho * wo * cout);
  const d = new Float64Array(36 * cin);
  const v = new Float64Array(36 * cin);
  const m = new Float64Array(36);
  for (let b = 0; b < batch; b++) {
    for (let ty = 0; ty < ho; ty += 4) {
      for (let tx = 0; tx < wo; tx += 4) {
        d.fill(0);
        for (let r = 0; r < 6; r++) {
          const vy = ty - 1 + r;
          if (vy < 0 || vy >= hv) continue;
          for (let c = 0; c < 6; c++) {
            const vx = tx - 1 + c;
            if (vx < 0 || vx >= wv) continue;
            const base = ((b * h + nearestIndex(vy, h, hv)) * w + nearestIndex(vx, w, wv)) * cin;
            for (let ci = 0; ci < cin; ci++) d[(r * 6 + c) * cin + ci] = x[base + ci]!;
          }
        }
        v.fill(0);
        for (let i = 0; i < 6; i++) {
          for (let j = 0; j < 6; j++) {
            for (let r = 0; r < 6; r++) {
              for (let c = 0; c < 6; c++) {
                const f = BT[i]![r]! * BT[j]![c]!;
                if (f === 0) continue;
                for (let ci = 0; ci < cin; ci++) v[(i * 6 + j) * cin + ci]! += f * d[(r * 6 + c) * cin + ci]!;
              }
            }
          }
        }
        for (let co = 0; co < cout; co++) {
          for (let xi = 0; xi < 36; xi++) {
            let sum = 0;
            for (let ci = 0; ci < cin; ci++) sum += v[xi * cin + ci]! * u[(xi * cout + co) * cin + ci]!;
            m[xi] = sum;
          }
          for (let dy = 0; dy < 4 && ty + dy < ho; dy++) {
            for (let dx = 0; dx < 4 && tx + dx < wo; dx++) {
              let sum = opts.bias?.[co] ?? 0;
              for (let r = 0; r < 6; r++) {
                for (let c = 0; c < 6; c++) sum += AT[dy]![r]! * AT[dx]![c]! * m[r * 6 + c]!;
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
