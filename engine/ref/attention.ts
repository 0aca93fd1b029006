/**
 * CPU reference of engine/ops/attention.ts: the same windowed inputs (a [B, T, Ctotal] array and the first channel of
 * the window), the same defaults (channels: the narrowest window; scale: 1/√headDim). Plain two-pass softmax with the
 * row maximum subtracted, in double precision; returns [B, Tq, channels].
 */
export interface RefWindow {
  data: Float32Array;
  /** [B, T, Ctotal] */
  shape: readonly number[];
  /** First channel of the window; default 0. */
  offset?: number;
}

export interface RefAttentionArgs {
  q: RefWindow;
  k: RefWindow;
  v: RefWindow;
  heads: number;
  channels?: number;
  scale?: number;
  /** Query t sees keys 0…t only. */
  causal?: boolean;
}

export function attention({ q, k, v, heads, channels, scale, causal }: RefAttentionArgs): Float32Array {
  const width = (w: RefWindow) => w.shape[2]! - (w.offset ?? 0);
  const c = channels ?? Math.min(width(q), width(k), width(v));
  const [batch, tq, qStride] = q.shape as [number, number, number];
  const [, tk, kStride] = k.shape as [number, number, number];
  const vStride = v.shape[2]!;
  const headDim = c / heads;
  const s = scale ?? 1 / Math.sqrt(headDim);
  const out = new Float32Array(batch * tq * c);
  const scores = new Float64Array(tk);
  const row = new Float64Array(headDim);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const qo = (q.offset ?? 0) + h * headDim;
      const ko = (k.offset ?? 0) + h * headDim;
      const vo = (v.offset ?? 0) + h * headDim;
      for (let t = 0; t < tq; t++) {
        const qBase = (b * tq + t) * qStride + qo;
        let max = -Infinity;
        const seen = causal ? t + 1 : tk;
        for (let j = 0; j < seen; j++) {
          const kBase = (b * tk + j) * kStride + ko;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q.data[qBase + d]! * k.data[kBase + d]!;
          scores[j] = dot * s;
          max = Math.max(max, scores[j]!);
        }
        let sum = 0;
        row.fill(0);
        for (let j = 0; j < seen; j++) {
          const p = Math.exp(scores[j]! - max);
          sum += p;
          const vBase = (b * tk + j) * vStride + vo;
          for (let d = 0; d < headDim; d++) row[d]! += p * v.data[vBase + d]!;
        }
        const oBase = (b * tq + t) * c + h * headDim;
        for (let d = 0; d < headDim; d++) out[oBase + d] = row[d]! / sum;
      }
    }
  }
  return out;
}
