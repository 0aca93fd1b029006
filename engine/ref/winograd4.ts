/** CPU reference of engine/ops/winograd4.ts: Winograd F(4×4, 3×3) by the shared loops of engine/ref/winograd.ts. */
import type { Nhwc } from './conv2d';
import { conv3x3WinogradWith, type WinogradRefMatrices, type WinogradRefOptions } from './winograd';

const F4: WinogradRefMatrices = {
  bt: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  at: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

/** F(4×4, 3×3) from u [36, Cout, Cin]. */
export function conv3x3Winograd4(x: Float32Array, shape: Nhwc, u: Float32Array, cout: number, opts: WinogradRefOptions = {}): Float32Array {
  return conv3x3WinogradWith(F4, x, shape, u, cout, opts);
}
