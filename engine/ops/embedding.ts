/**
 * Token embedding lookup with the position embedding added: the first step of the CLIP text encoder.
 *
 *   out[b, t, :] = table[ids[b, t], :] + positions[t, :]
 *
 * `ids` is an f32 tensor [B, T] of token ids (exact integers); `table` a weight [V, D] in any storage format (the
 * 49408×768 CLIP table is 150 MB in f32, so it may be stored as f16); `positions` f32 [T, D]. Output f32 [B, T, D].
 * Ids outside the vocabulary are rejected on the CPU side by the tokenizer; the kernel clamps them so a bad id can
 * never read out of bounds.
 */
import source from '../../shaders/embedding.wgsl?raw';
import { resolveOutput, uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { shapeString, type Output, type Tensor } from '../gpu/tensor';
import { preprocess } from '../gpu/wgsl';
import { weightBindings, weightDefines, weightInfo, weightsWgsl } from './weights';

export function embedding(ctx: GpuContext, ids: Tensor, table: Tensor, positions?: Tensor, out?: Output): Tensor {
  const { n: vocab, k: dim, row } = weightInfo(table, 'embedding');
  if (ids.shape.length !== 2) throw new ShapeError(`embedding: ids must be [B, T], got ${shapeString(ids.shape)}`);
  const [batch, seq] = ids.shape as [number, number];
  if (positions && (positions.shape.length !== 2 || positions.shape[0]! < seq || positions.shape[1] !== dim)) {
    throw new ShapeError(`embedding: positions ${shapeString(positions.shape)} do not cover [${seq}, ${dim}]`);
  }
  const result = resolveOutput(ctx, [batch, seq, dim], out, 'embedding');
  if (result.channelStride !== dim) throw new ShapeError('embedding: cannot write into a channel slice');
  const [w, scales] = weightBindings(table);
  ctx.dispatch({
    op: 'embedding',
    variant: `${table.format}${positions ? '+pos' : ''}`,
    code: () => preprocess(weightsWgsl + source, { ...weightDefines(table.format), POSITIONS: positions !== undefined }),
    uniforms: uniforms([
      ['u32', batch * seq],
      ['u32', seq],
      ['u32', dim],
      ['u32', row],
      ['u32', vocab],
    ]),
    bindings: [w, scales, ids, positions, result.tensor],
    workgroups: ctx.grid(batch * seq),
  });
  return result.tensor;
}
