import { describe, expect, it } from 'vitest';
import { embedding } from '../../engine/ops/embedding';
import * as ref from '../../engine/ref/embedding';
import { ShapeError } from '../../engine/gpu/errors';
import { STORAGE_FORMATS } from '../../engine/gpu/tensor';
import { dequantize, packWeight } from '../../engine/quant/pack';
import { expectClose, gpuContext, randomArray } from '../helpers/gpu';

// A copy plus one f32 add per element; quantised tables are compared with their dequantised values.
const TOL = 1e-6;

describe('embedding', () => {
  for (const format of STORAGE_FORMATS) {
    for (const [vocab, dim, batch, seq] of [[11, 8, 1, 5], [50, 37, 2, 77], [815, 64, 1, 77]] as const) {
      it(`${format} table [${vocab},${dim}], ids [${batch},${seq}]`, async () => {
        const ctx = await gpuContext();
        const packed = packWeight(randomArray(vocab * dim, vocab + dim), vocab, dim, format);
        const table = ctx.weight([vocab, dim], format, packed.data, 'table', packed.scales);
        const pos = randomArray(seq * dim, 7);
        const ids = Float32Array.from({ length: batch * seq }, (_, i) => (i * 7919) % vocab);
        const tIds = ctx.upload(ids, [batch, seq], 'ids');
        const tPos = ctx.upload(pos, [seq, dim], 'pos');
        const out = embedding(ctx, tIds, table, tPos);
        expect(out.shape).toEqual([batch, seq, dim]);
        expectClose(await ctx.read(out), ref.embedding(ids, seq, dequantize(packed), dim, pos), TOL);
        const plain = embedding(ctx, tIds, table);
        expectClose(await ctx.read(plain), ref.embedding(ids, seq, dequantize(packed), dim), TOL);
        ctx.release(tIds, tPos, out, plain);
        ctx.destroyWeight(table);
      });
    }
  }

  it('rejects positions that do not cover the sequence', async () => {
    const ctx = await gpuContext();
    const packed = packWeight(randomArray(40, 1), 5, 8, 'f32');
    const table = ctx.weight([5, 8], 'f32', packed.data, 'table');
    const ids = ctx.upload(new Float32Array(6), [1, 6], 'ids');
    const pos = ctx.upload(new Float32Array(40), [5, 8], 'pos');
    expect(() => embedding(ctx, ids, table, pos)).toThrow(ShapeError);
    ctx.release(ids, pos);
    ctx.destroyWeight(table);
  });
});
