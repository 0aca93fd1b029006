import { describe, expect, it } from 'vitest';
import { DEFAULT_GEMM_TILE, GemmTileError, gemmTileCandidates, linear, matmul, validateGemmTile, type Activation, type GemmTile } from '../../engine/ops/gemm';
import * as ref from '../../engine/ref/gemm';
import { geglu as refGeglu } from '../../engine/ref/geglu';
import { layerNorm as refLayerNorm } from '../../engine/ref/layer-norm';
import type { GpuContext } from '../../engine/gpu/context';
import { ShapeError, UnsupportedFormatError } from '../../engine/gpu/errors';
import { STORAGE_FORMATS, type StorageFormat, type Tensor } from '../../engine/gpu/tensor';
import { dequantize, packWeight } from '../../engine/quant/pack';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// Sums of up to 128 f32 products, in another order than the f64 reference: errors stay near 1e-6 of the largest output,
// so the project's f32 tolerance holds. Quantised weights are compared against their dequantised values (exact in f32).
const TOL = 1e-4;
// Tile shapes change which thread computes an output, not the order of its sum: results agree to rounding.
const TILE_TOL = 1e-6;
// SwiftShader compiles a pipeline in seconds, longer the more outputs a thread unrolls: most cases use this small
// blocked tile, and the default tile runs on every format and in the tile comparison below.
const TEST_TILE: GemmTile = { tileM: 32, tileN: 32, tileK: 16, vec: 4, wptM: 2, wptN: 2 };

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function makeWeight(ctx: GpuContext, n: number, k: number, format: StorageFormat, seed: number): { w: Tensor; values: Float32Array } {
  const packed = packWeight(randomArray(n * k, seed), n, k, format);
  return { w: ctx.weight([n, k], format, packed.data, `w.${format}`, packed.scales), values: dequantize(packed) };
}

async function runLinear(
  ctx: GpuContext,
  xShape: number[],
  n: number,
  format: StorageFormat,
  opts: { bias?: boolean; activation?: Activation; residual?: boolean; tile?: GemmTile } = {},
): Promise<{ actual: Float32Array; expected: Float32Array }> {
  const k = xShape[xShape.length - 1]!;
  const outShape = [...xShape.slice(0, -1), n];
  const x = randomArray(size(xShape), 1);
  const bias = opts.bias ? randomArray(n, 2) : undefined;
  const residual = opts.residual ? randomArray(size(outShape), 3) : undefined;
  const { w, values } = makeWeight(ctx, n, k, format, 4);
  const tx = ctx.upload(x, xShape, 'x');
  const tb = bias && ctx.upload(bias, [n], 'bias');
  const tr = residual && ctx.upload(residual, outShape, 'residual');
  const y = linear(ctx, tx, w, { bias: tb, activation: opts.activation, residual: tr, tile: opts.tile });
  expect(y.shape).toEqual(outShape);
  const actual = await ctx.read(y);
  ctx.release(tx, tb, tr, y);
  ctx.destroyWeight(w);
  return { actual, expected: ref.linear(x, values, [n, k], { bias, activation: opts.activation, residual }) };
}

describe('linear', () => {
  const shapes: [number[], number][] = [
    [[1, 7, 13], 5],
    [[2, 33, 65], 67],
    [[3, 64, 64], 128],
    [[2, 5, 6, 12], 20], // NHWC: a 1×1 convolution
  ];
  for (const format of STORAGE_FORMATS) {
    for (const [xShape, n] of shapes) {
      it(`${format}: x [${xShape}] × w [${n},${xShape[xShape.length - 1]}]`, async () => {
        const ctx = await gpuContext();
        const { actual, expected } = await runLinear(ctx, xShape, n, format, { bias: true, tile: TEST_TILE });
        expectClose(actual, expected, TOL);
      });
    }
    it(`${format}: default tile, x [2,33,65] × w [67,65]`, async () => {
      const ctx = await gpuContext();
      const { actual, expected } = await runLinear(ctx, [2, 33, 65], 67, format, { bias: true });
      expectClose(actual, expected, TOL);
    });
  }

  const epilogues: { bias?: boolean; activation?: Activation; residual?: boolean }[] = [
    { bias: true },
    { activation: 'gelu' },
    { activation: 'quick-gelu' },
    { activation: 'silu' },
    { residual: true },
    { bias: true, activation: 'gelu', residual: true },
  ];
  for (const epilogue of epilogues) {
    it(`epilogue ${JSON.stringify(epilogue)}`, async () => {
      const ctx = await gpuContext();
      const { actual, expected } = await runLinear(ctx, [2, 33, 65], 67, 'f32', { ...epilogue, tile: TEST_TILE });
      expectClose(actual, expected, TOL);
    });
  }
  it('int8 with every epilogue stage at once', async () => {
    const ctx = await gpuContext();
    const { actual, expected } = await runLinear(ctx, [2, 33, 65], 67, 'int8', { bias: true, activation: 'quick-gelu', residual: true, tile: TEST_TILE });
    expectClose(actual, expected, TOL);
  });

  it('activations match their exact forms to 1e-6 over [-10, 10]', async () => {
    const ctx = await gpuContext();
    const x = Float32Array.from({ length: 2001 }, (_, i) => -10 + i / 100);
    const tx = ctx.upload(x, [x.length, 1], 'x');
    const w = ctx.weight([1, 1], 'f32', new Float32Array([1]), 'one');
    for (const activation of ['gelu', 'quick-gelu', 'silu'] as const) {
      const y = await ctx.read(linear(ctx, tx, w, { activation, tile: TEST_TILE }));
      let worst = 0;
      // Absolute error scaled by max(1, |x|): beyond |x| = 1 the f32 rounding of the output itself is ~|x|·6e-8.
      x.forEach((v, i) => (worst = Math.max(worst, Math.abs(y[i]! - ref.activate(v, activation)) / Math.max(1, Math.abs(v)))));
      expect(worst, activation).toBeLessThan(1e-6);
    }
    ctx.release(tx);
    ctx.destroyWeight(w);
  });

  // The transformer's feed-forward: GEGLU of x [..., 2K] applied while A is loaded, then bias and residual.
  for (const [format, rows, k, n] of [['int8', 37, 40, 24], ['f16', 70, 64, 36]] as const) {
    it(`${format}: GEGLU input x [${rows}, ${2 * k}] × w [${n},${k}] with bias and residual`, async () => {
      const ctx = await gpuContext();
      const x = randomArray(rows * 2 * k, 5, 2);
      const bias = randomArray(n, 6);
      const res = randomArray(rows * n, 7);
      const { w, values } = makeWeight(ctx, n, k, format, 8);
      const [tx, tb, tr] = [ctx.upload(x, [1, rows, 2 * k], 'x'), ctx.upload(bias, [n], 'bias'), ctx.upload(res, [1, rows, n], 'residual')];
      const y = linear(ctx, tx, w, { bias: tb, residual: tr, geglu: true, tile: TEST_TILE });
      expect(y.shape).toEqual([1, rows, n]);
      expectClose(await ctx.read(y), ref.linear(refGeglu(x, 2 * k), values, [n, k], { bias, residual: res }), TOL);
      expect(() => linear(ctx, tx, w, { geglu: false })).toThrow(ShapeError);
      ctx.release(tx, tb, tr, y);
      ctx.destroyWeight(w);
    });
  }

  // The transformer's norm1/2/3 fused into the projection that reads them: row statistics in the GEMM's workgroup.
  // Rows with a common offset of 50 check the two-pass statistics; 70 rows span three 32-row tiles.
  for (const [format, rows, k, n, offset] of [['f16', 70, 64, 36, 0], ['int8', 9, 40, 24, 50]] as const) {
    it(`${format}: LayerNorm input x [${rows}, ${k}] (offset ${offset}) × w [${n},${k}] with bias`, async () => {
      const ctx = await gpuContext();
      const x = randomArray(rows * k, 9, 2).map((v) => v + offset);
      const [gamma, beta, bias] = [randomArray(k, 10).map((v) => 1 + v), randomArray(k, 11), randomArray(n, 12)];
      const { w, values } = makeWeight(ctx, n, k, format, 13);
      const [tx, tg, tbeta, tb] = [ctx.upload(x, [1, rows, k], 'x'), ctx.upload(gamma, [k], 'gamma'), ctx.upload(beta, [k], 'beta'), ctx.upload(bias, [n], 'bias')];
      const y = linear(ctx, tx, w, { bias: tb, layerNorm: { gamma: tg, beta: tbeta, eps: 1e-5 }, tile: TEST_TILE });
      const normed = refLayerNorm(x, gamma, beta, { eps: 1e-5 });
      expectClose(await ctx.read(y), ref.linear(normed, values, [n, k], { bias }), TOL);
      expect(() => linear(ctx, tx, w, { layerNorm: { gamma: tb, beta: tbeta, eps: 1e-5 } })).toThrow(ShapeError);
      ctx.release(tx, tg, tbeta, tb, y);
      ctx.destroyWeight(w);
    });
  }

  it('adds the residual in place when it is the output', async () => {
    const ctx = await gpuContext();
    const x = randomArray(5 * 40, 1);
    const res = randomArray(5 * 24, 2);
    const { w, values } = makeWeight(ctx, 24, 40, 'f16', 3);
    const tx = ctx.upload(x, [5, 40], 'x');
    const tr = ctx.upload(res, [5, 24], 'residual');
    const y = linear(ctx, tx, w, { activation: 'silu', residual: tr, out: tr, tile: TEST_TILE });
    expect(y).toBe(tr);
    expectClose(await ctx.read(tr), ref.linear(x, values, [24, 40], { activation: 'silu', residual: res }), TOL);
    ctx.release(tx, tr);
    ctx.destroyWeight(w);
  });

  it('writes into channels [3, 3+N) of a wider tensor and leaves the others alone', async () => {
    const ctx = await gpuContext();
    const [b, h, wd, k, n, total] = [2, 5, 6, 12, 20, 27];
    const x = randomArray(b * h * wd * k, 1);
    const bias = randomArray(n, 2);
    const { w, values } = makeWeight(ctx, n, k, 'int4', 3);
    const tx = ctx.upload(x, [b, h, wd, k], 'x');
    const tb = ctx.upload(bias, [n], 'bias');
    const wide = ctx.upload(new Float32Array(b * h * wd * total).fill(-7), [b, h, wd, total], 'concat');
    expect(linear(ctx, tx, w, { bias: tb, out: { tensor: wide, offset: 3 }, tile: TEST_TILE })).toBe(wide);
    const got = await ctx.read(wide);
    const expected = ref.linear(x, values, [n, k], { bias });
    const inside: number[] = [];
    const outside: number[] = [];
    got.forEach((v, i) => {
      const c = i % total;
      if (c >= 3 && c < 3 + n) inside.push(v);
      else outside.push(v);
    });
    expectClose(inside, expected, TOL);
    expect(outside.every((v) => v === -7)).toBe(true);
    ctx.release(tx, tb, wide);
    ctx.destroyWeight(w);
  });

  it('also writes the result into a skip slice of a joined buffer', async () => {
    const ctx = await gpuContext();
    const [b, h, wd, k, n, total] = [1, 3, 5, 16, 8, 14];
    const x = randomArray(b * h * wd * k, 4);
    const residual = randomArray(b * h * wd * n, 5);
    const { w, values } = makeWeight(ctx, n, k, 'f16', 6);
    const tx = ctx.upload(x, [b, h, wd, k], 'x');
    const tr = ctx.upload(residual, [b, h, wd, n], 'residual');
    const joined = ctx.upload(new Float32Array(b * h * wd * total).fill(-7), [b, h, wd, total], 'joined');
    const y = linear(ctx, tx, w, { residual: tr, skip: { tensor: joined, offset: total - n }, tile: TEST_TILE });
    const expected = ref.linear(x, values, [n, k], { residual });
    expectClose(await ctx.read(y), expected, TOL, 'main output');
    const got = await ctx.read(joined);
    const slice = [...got].filter((_, i) => i % total >= total - n);
    expectClose(slice, expected, TOL, 'skip copy');
    expect([...got].filter((_, i) => i % total < total - n).every((v) => v === -7)).toBe(true);
    ctx.release(tx, tr, joined, y);
    ctx.destroyWeight(w);
  });

  it('gives the same result with every tile shape and load width', async () => {
    const ctx = await gpuContext();
    const tiles: GemmTile[] = [
      { tileM: 32, tileN: 32, tileK: 8, vec: 1, wptM: 2, wptN: 4 },
      { tileM: 64, tileN: 32, tileK: 16, vec: 4, wptM: 4, wptN: 2 },
      { tileM: 16, tileN: 32, tileK: 32, vec: 2, wptM: 1, wptN: 4 },
    ];
    const base = await runLinear(ctx, [3, 64, 64], 128, 'f32', { bias: true, tile: DEFAULT_GEMM_TILE });
    expectClose(base.actual, base.expected, TOL);
    for (const tile of tiles) {
      const { actual } = await runLinear(ctx, [3, 64, 64], 128, 'f32', { bias: true, tile });
      expectClose(actual, base.actual, TILE_TOL, JSON.stringify(tile));
    }
  });

  it('rejects mismatched shapes, formats and aliasing with named errors', async () => {
    const ctx = await gpuContext();
    const { w } = makeWeight(ctx, 6, 8, 'f32', 1);
    const x = ctx.upload(randomArray(24, 1), [3, 8], 'x');
    const bad = ctx.upload(randomArray(21, 1), [3, 7], 'x7');
    const bias = ctx.upload(randomArray(5, 1), [5], 'bias5');
    const res = ctx.upload(randomArray(18, 1), [18], 'res-flat');
    const narrow = ctx.upload(new Float32Array(3 * 8), [3, 8], 'narrow');
    expect(() => linear(ctx, bad, w)).toThrow(ShapeError);
    expect(() => linear(ctx, x, w, { bias })).toThrow(ShapeError);
    expect(() => linear(ctx, x, w, { residual: res })).toThrow(ShapeError);
    expect(() => linear(ctx, x, w, { out: { tensor: narrow, offset: 3 } })).toThrow(ShapeError);
    expect(() => linear(ctx, x, w, { out: { tensor: x, offset: 0 } })).toThrow(ShapeError);
    const { w: half } = makeWeight(ctx, 3, 8, 'f16', 1);
    expect(() => linear(ctx, half, w)).toThrow(UnsupportedFormatError);
    ctx.release(x, bad, bias, res, narrow);
    ctx.destroyWeight(w);
    ctx.destroyWeight(half);
  });
});

describe('GEMM tiles', () => {
  it('rejects tiles that are malformed or exceed the device', async () => {
    const ctx = await gpuContext();
    const limits = ctx.device.limits;
    const bad: GemmTile[] = [
      { ...DEFAULT_GEMM_TILE, tileK: 6 },
      { ...DEFAULT_GEMM_TILE, wptM: 3 },
      { ...DEFAULT_GEMM_TILE, wptM: 16, wptN: 8, tileN: 128, tileM: 128 },
      { tileM: 128, tileN: 128, tileK: 16, vec: 4, wptM: 2, wptN: 2 }, // 4096 threads
      { tileM: 128, tileN: 128, tileK: 16 * 1024, vec: 4, wptM: 8, wptN: 8 }, // megabytes of workgroup memory
      { ...DEFAULT_GEMM_TILE, vec: 3 as 4 },
    ];
    for (const tile of bad) expect(() => validateGemmTile(tile, limits), JSON.stringify(tile)).toThrow(GemmTileError);
    const x = ctx.upload(new Float32Array(8), [1, 8], 'x');
    const { w } = makeWeight(ctx, 4, 8, 'f32', 1);
    expect(() => linear(ctx, x, w, { tile: bad[3] })).toThrow(GemmTileError);
    ctx.release(x);
    ctx.destroyWeight(w);
  });

  it('lists only valid candidates, the default among them', async () => {
    const ctx = await gpuContext();
    const candidates = gemmTileCandidates(ctx.device.limits);
    expect(candidates.length).toBeGreaterThan(10);
    for (const tile of candidates) validateGemmTile(tile, ctx.device.limits);
    expect(candidates).toContainEqual(DEFAULT_GEMM_TILE);
  });
});

describe('matmul', () => {
  const cases: { batch: number[]; m: number; k: number; n: number; transposeB: boolean; alpha?: number; tile?: GemmTile }[] = [
    { batch: [1], m: 7, k: 13, n: 5, transposeB: false, tile: TEST_TILE },
    { batch: [1], m: 7, k: 13, n: 5, transposeB: true, tile: TEST_TILE },
    { batch: [3], m: 33, k: 65, n: 67, transposeB: false, alpha: 0.125, tile: TEST_TILE },
    { batch: [3], m: 33, k: 65, n: 67, transposeB: true, alpha: 0.125, tile: TEST_TILE },
    { batch: [2], m: 64, k: 64, n: 128, transposeB: false },
    { batch: [2], m: 64, k: 64, n: 128, transposeB: true, alpha: -2 },
    { batch: [2, 3], m: 17, k: 40, n: 18, transposeB: false, tile: TEST_TILE },
    { batch: [2, 3], m: 17, k: 40, n: 18, transposeB: true, tile: { tileM: 16, tileN: 16, tileK: 8, vec: 1, wptM: 2, wptN: 1 } },
  ];
  for (const { batch, m, k, n, transposeB, alpha, tile } of cases) {
    const bShape = transposeB ? [...batch, n, k] : [...batch, k, n];
    it(`[${batch},${m},${k}] × [${bShape}]${transposeB ? ' transposed' : ''}${alpha ? ` · ${alpha}` : ''}${tile ? ` tile ${tile.tileM}x${tile.tileN}` : ''}`, async () => {
      const ctx = await gpuContext();
      const count = size(batch);
      const a = randomArray(count * m * k, 1);
      const b = randomArray(count * k * n, 2);
      const ta = ctx.upload(a, [...batch, m, k], 'a');
      const tb = ctx.upload(b, bShape, 'b');
      const c = matmul(ctx, ta, tb, { transposeB, alpha, tile });
      expect(c.shape).toEqual([...batch, m, n]);
      const expected = ref.matmul(a, b, [count, m, k, n], { transposeB, alpha });
      const actual = await ctx.read(c);
      expectClose(actual, expected, TOL);
      ctx.release(ta, tb, c);
    });
  }

  it('rejects mismatched shapes', async () => {
    const ctx = await gpuContext();
    const a = ctx.upload(new Float32Array(2 * 3 * 4), [2, 3, 4], 'a');
    const b = ctx.upload(new Float32Array(2 * 5 * 4), [2, 5, 4], 'b');
    const b3 = ctx.upload(new Float32Array(3 * 4 * 5), [3, 4, 5], 'b3');
    expect(() => matmul(ctx, a, b)).toThrow(ShapeError);
    expect(() => matmul(ctx, a, b3)).toThrow(ShapeError);
    expect(() => matmul(ctx, a, b3, { transposeB: true })).toThrow(ShapeError);
    const square = ctx.upload(new Float32Array(2 * 4 * 4), [2, 4, 4], 'square');
    expect(() => matmul(ctx, square, square, { out: square })).toThrow(ShapeError);
    ctx.release(a, b, b3, square);
  });
});
