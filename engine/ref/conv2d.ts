/**
 * CPU references of engine/ops/conv2d.ts (3×3, stride 1 or 2, symmetric or bottom-right padding, fused nearest
 * upsampling to 2× or a given size, bias, residual), on plain NHWC Float32Arrays, accumulating in f64. Its Winograd
 * paths' references are engine/ref/winograd.ts and engine/ref/winograd4.ts.
 */
export interface Conv3x3RefOptions {
  bias?: Float32Array;
  stride?: 1 | 2;
  /** true: nearest 2×; [H̃, W̃]: nearest to that size, read as PyTorch's F.interpolate(size=…, mode='nearest'). */
  upsample?: boolean | readonly [number, number];
  /** 'symmetric' (default): one zero pixel on every side; 'bottom-right': zeros only below and right. */
  padding?: 'symmetric' | 'bottom-right';
  /** NHWC of the output's shape, added after the bias. */
  residual?: Float32Array;
  /** 'matrix' (default): [Cout, 9·Cin] with k = (ky·3 + kx)·Cin + ci; 'oihw': PyTorch's [Cout, Cin, 3, 3]. */
  weightLayout?: 'matrix' | 'oihw';
}

/** [B, H, W, Cin] of the input. */
export type Nhwc = readonly [number, number, number, number];

function outputSize(h: number, w: number, stride: number, upsample: boolean | readonly [number, number], pad: number): [number, number, number, number] {
  const [hv, wv] = upsample === true ? [2 * h, 2 * w] : upsample === false ? [h, w] : upsample;
  return [hv, wv, Math.floor((hv + pad - 2) / stride) + 1, Math.floor((wv + pad - 2) / stride) + 1];
}

/**
 * PyTorch's nearest source index (aten/src/ATen/native/UpSample.h `nearest_idx`): the same index when the size is
 * unchanged, i >> 1 when it doubles, else ⌊i · scale⌋ with scale = input / output in f32, clamped to the input.
 */
export function nearestIndex(i: number, input: number, output: number): number {
  if (output === input) return i;
  if (output === 2 * input) return i >> 1;
  const scale = Math.fround(input / output);
  return Math.min(Math.floor(Math.fround(i * scale)), input - 1);
}

/** Direct 3×3 convolution: y [B, Ho, Wo, Cout]. */
export function conv3x3(x: Float32Array, [batch, h, w, cin]: Nhwc, weight: Float32Array, cout: number, opts: Conv3x3RefOptions = {}): Float32Array {
  const stride = opts.stride ?? 1;
  const up = opts.upsample ?? false;
  const pad = opts.padding === 'bottom-right' ? 0 : 1;
  const [hv, wv, ho, wo] = outputSize(h, w, stride, up, pad);
  const sy = (vy: number) => nearestIndex(vy, h, hv);
  const sx = (vx: number) => nearestIndex(vx, w, wv);
  const oihw = opts.weightLayout === 'oihw';
  const wAt = (co: number, ky: number, kx: number, ci: number) =>
    oihw ? weight[((co * cin + ci) * 3 + ky) * 3 + kx]! : weight[co * 9 * cin + (ky * 3 + kx) * cin + ci]!;
  const y = new Float32Array(batch * ho * wo * cout);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const pixel = (b * ho + oy) * wo + ox;
        for (let co = 0; co < cout; co++) {
          let sum = opts.bias?.[co] ?? 0;
          for (let ky = 0; ky < 3; ky++) {
            const vy = oy * stride + ky - pad;
            if (vy < 0 || vy >= hv) continue;
            for (let kx = 0; kx < 3; kx++) {
              const vx = ox * stride + kx - pad;
              if (vx < 0 || vx >= wv) continue;
              const base = ((b * h + sy(vy)) * w + sx(vx)) * cin;
              for (let ci = 0; ci < cin; ci++) sum += wAt(co, ky, kx, ci) * x[base + ci]!;
            }
          }
          y[pixel * cout + co] = sum + (opts.residual?.[pixel * cout + co] ?? 0);
        }
      }
    }
  }
  return y;
}
