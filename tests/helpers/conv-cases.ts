/** A 3×3 convolution test case and its seeded random data, shared by tests/ops/conv2d.test.ts and the Winograd tests. */
import type { Conv2dOptions } from '../../engine/ops/conv2d';
import type { StorageFormat } from '../../engine/gpu/tensor';
import { randomArray } from './gpu';

export type Shape = [number, number, number, number];

export const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export interface ConvCase {
  shape: Shape;
  cout: number;
  stride?: 1 | 2;
  upsample?: Conv2dOptions['upsample'];
  padding?: Conv2dOptions['padding'];
  bias?: boolean;
  residual?: boolean;
  format?: StorageFormat;
  tile?: Conv2dOptions['tile'];
  workspaceBytes?: number;
}

/** NHWC of the case's output. */
export function outShape({ shape: [b, h, w], cout, stride = 1, upsample = false, padding = 'symmetric' }: ConvCase): Shape {
  const [hv, wv] = upsample === true ? [2 * h, 2 * w] : upsample === false ? [h, w] : upsample;
  const before = padding === 'symmetric' ? 1 : 0;
  return [b, Math.floor((hv + before - 2) / stride) + 1, Math.floor((wv + before - 2) / stride) + 1, cout];
}

/** The input, PyTorch-layout weight, and (where the case asks for them) bias and residual, from `seed` on. */
export function convCaseData(c: ConvCase, seed: number): { x: Float32Array; oihw: Float32Array; bias?: Float32Array; residual?: Float32Array } {
  return {
    x: randomArray(count(c.shape), seed),
    oihw: randomArray(c.cout * c.shape[3] * 9, seed + 1, 0.5),
    bias: c.bias ? randomArray(c.cout, seed + 2) : undefined,
    residual: c.residual ? randomArray(count(outShape(c)), seed + 3) : undefined,
  };
}
