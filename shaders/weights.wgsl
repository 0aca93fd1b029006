// Weight loads for every storage format; the layout is documented in engine/quant/pack.ts.
// An op that reads a weight puts it at binding 1 and its scales (int8, int4) at binding 2; the op's TypeScript
// prepends this file and sets exactly one of W_F32, W_F16, W_INT8, W_INT4 (plus W_SCALED for int8/int4).
// `row` is the number of words per weight row (`rowWords` in pack.ts; K itself for f32).

#if W_F32
@group(0) @binding(1) var<storage, read> w: array<f32>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
#if W_SCALED
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;

fn w_scale(i: u32) -> f32 {
  return unpack2x16float(w_scales[i >> 1u])[i & 1u];
}
#endif

fn weight(n: u32, k: u32, row: u32) -> f32 {
#if W_F32
  return w[n * row + k];
#elif W_F16
  return unpack2x16float(w[n * row + (k >> 1u)])[k & 1u];
#elif W_INT8
  let word = bitcast<i32>(w[n * row + (k >> 2u)]);
  return f32(extractBits(word, (k & 3u) * 8u, 8u)) * w_scale(n);
#elif W_INT4
  // row = Kp / 8 words, so a row has row / 4 blocks of 32.
  let word = bitcast<i32>(w[n * row + (k >> 3u)]);
  return f32(extractBits(word, (k & 7u) * 4u, 4u)) * w_scale(n * (row >> 2u) + (k >> 5u));
#endif
}
