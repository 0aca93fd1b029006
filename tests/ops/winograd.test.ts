import { describe, expect, it } from 'vitest';
import { CONV_TILE_CANDIDATES, conv2d, convWeightMatrix } from '../../engine/ops/conv2d';
import { WINOGRAD_F2 } from '../../engine/ops/winograd';
import { winogradTransform, winogradWeight } from '../../engine/ops/winograd-common';
import { conv3x3Winograd } from '../../engine/ref/winograd';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';
import { count, type Shape } from '../helpers/conv-cases';
import { winogradCases } from '../helpers/winograd-cases';

// f32 GEMMs over Cin plus transforms that add up to 16 terms: ~1e-6 relative to the f64 reference in practice;
// 1e-4 leaves room. Quantised U is compared against the Winograd reference run on the dequantised U, so every
// storage format holds the same tolerance.
const TOL = 1e-4;

describe('winograd F(2×2, 3×3)', () => {
  winogradCases({
    variant: WINOGRAD_F2,
    reference: conv3x3Winograd,
    tol: TOL,
    transformCases: [
      [[1, 5, 7, 3], 4, false],
      [[2, 4, 3, 5], 6, true],
      [[1, 4, 3, 5], 6, [7, 5]],
    ],
    f32Shapes: [
      [[1, 5, 7, 3], 4],
      [[2, 9, 6, 16], 24],
      [[1, 16, 16, 32], 40],
    ],
    upsampleCases: [
      [[2, 5, 3, 6], 9, [9, 5]],
      [[1, 3, 4, 20], 12, [6, 7]],
      [[1, 1, 1, 3], 4, [1, 1]],
    ],
    // 2·5·4 = 40 tiles, 16·12·4 bytes each: a 24 KiB budget holds 32 tiles (one TM=32 block), so two chunks.
    chunked: { shape: [2, 9, 8, 10], workspaceBytes: 24 * 1024 },
    tiles: { title: 'runs every candidate tile', list: CONV_TILE_CANDIDATES },
  });

  it('transform: U of a single tap is its outer product G[:, ky] G[:, kx]', () => {
    const g = new Float32Array(9);
    g[1 * 3 + 2] = 1; // ky = 1, kx = 2
    const u = winogradTransform(WINOGRAD_F2, g, 1, 1);
    const G = [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ];
    // + 0 turns -0 into 0: the sign of a zero product is not part of the contract.
    expect(Array.from(u, (v) => v + 0)).toEqual(Array.from({ length: 16 }, (_, xi) => G[xi >> 2]![1]! * G[xi & 3]![2]! + 0));
  });

  it('agrees with the direct path', async () => {
    const ctx = await gpuContext();
    for (const upsample of [false, true, [29, 25] as const]) {
      const shape: Shape = [1, 15, 13, 32];
      const cout = 40;
      const x = ctx.upload(randomArray(count(shape), 60), shape, 'x');
      const oihw = randomArray(cout * 32 * 9, 61, 0.5);
      const bias = ctx.upload(randomArray(cout, 62), [cout], 'bias');
      const w = ctx.weight([cout, 9 * 32], 'f32', convWeightMatrix(oihw, cout, 32), 'w');
      const u = winogradWeight(WINOGRAD_F2, ctx, oihw, cout, 32, 'f32', 'u');
      const direct = await ctx.read(conv2d(ctx, x, w, { bias, upsample }));
      const winograd = await ctx.read(conv2d(ctx, x, u, { bias, upsample }));
      expectClose(winograd, direct, TOL, `upsample ${upsample}`);
      ctx.destroyWeight(w);
      ctx.destroyWeight(u);
    }
  });
});
