/** CPU references of engine/ops/elementwise.ts (same broadcasting rule: b repeats over leading dimensions). */
export function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i % b.length]!);
}

export function mul(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v * b[i % b.length]!);
}

export function scale(a: Float32Array, alpha: number, beta = 0): Float32Array {
  return a.map((v) => v * alpha + beta);
}
