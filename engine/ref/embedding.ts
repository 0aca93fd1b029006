/** CPU reference of engine/ops/embedding.ts: table [V, D] (dequantised), positions [T, D], ids [B·T]. */
export function embedding(ids: ArrayLike<number>, seq: number, table: Float32Array, dim: number, positions?: Float32Array): Float32Array {
  const out = new Float32Array(ids.length * dim);
  for (let i = 0; i < ids.length; i++) {
    for (let d = 0; d < dim; d++) {
      out[i * dim + d] = table[ids[i]! * dim + d]! + (positions ? positions[(i % seq) * dim + d]! : 0);
    }
  }
  return out;
}
