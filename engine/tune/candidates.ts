/**
 * The configurations the tuner times for each op, besides the op's default: short lists by default (a pipeline
 * compiles in milliseconds on a GPU driver but in seconds on SwiftShader, so a full sweep does not fit a budget of
 * minutes there), the ops' own full candidate lists with `exhaustive`.
 *
 * The short lists mix tiles that suit GPUs (many threads, large blocks) with tiles that suit CPU adapters such as
 * SwiftShader, which runs a workgroup's invocations as SIMD lanes of one CPU thread, so every workgroup barrier is a
 * costly switch between them: few threads (4 to 64), several outputs each, and long K steps (fewer barriers per
 * output). `gemmTileCandidates` keeps to 64 threads and more, so the CPU tiles are listed here.
 */
import type { GpuContext } from '../gpu/context';
import { attentionTileCandidates, untunedAttentionTile, type AttentionTile } from '../ops/attention';
import { CONV_TILE_CANDIDATES, resolveTile, type ConvTile } from '../ops/conv2d';
import { gemmTileCandidates, gemmTileKey, validateGemmTile, type GemmTile } from '../ops/gemm';

const t = (tileM: number, tileN: number, tileK: number, wptM: number, wptN: number): GemmTile => ({ tileM, tileN, tileK, vec: 4, wptM, wptN });

/** GPU-shaped tiles: 64 to 256 threads, blocks of 32 to 128. */
const GPU_GEMM_TILES: readonly GemmTile[] = [t(128, 64, 16, 8, 4), t(64, 128, 16, 4, 8), t(64, 64, 32, 4, 4), t(32, 64, 16, 4, 4), t(64, 32, 16, 4, 4), t(32, 32, 16, 2, 2), t(128, 128, 16, 8, 8)];

/** CPU-shaped tiles: 4 to 64 threads, 16 to 64 outputs each, K steps of 32 and 64. */
export const CPU_GEMM_TILES: readonly GemmTile[] = [t(16, 16, 32, 4, 4), t(32, 32, 32, 8, 8), t(64, 64, 32, 8, 8), t(32, 64, 16, 4, 8), t(16, 16, 64, 8, 8), t(8, 8, 16, 4, 4)];

/** Conv tiles with fewer threads than CONV_TILE_CANDIDATES' (32 to 64), for CPU adapters. */
export const CPU_CONV_TILES: readonly ConvTile[] = [
  { tm: 32, tn: 32, tk: 16, rm: 8 },
  { tm: 32, tn: 64, tk: 16, rm: 8 },
  { tm: 64, tn: 64, tk: 16, rm: 16 },
];

export interface CandidateOptions {
  /** Time every valid tile the ops list instead of the short lists. */
  exhaustive?: boolean;
}

function unique<T>(items: readonly T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((x) => {
    const k = key(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** GEMM tiles other than `untuned` (what the op runs without a table), valid on this device. */
export function gemmCandidates(ctx: GpuContext, untuned: GemmTile, options: CandidateOptions = {}): GemmTile[] {
  const limits = ctx.device.limits;
  const list = options.exhaustive ? [...CPU_GEMM_TILES, ...gemmTileCandidates(limits)] : [...CPU_GEMM_TILES, ...GPU_GEMM_TILES];
  return unique(list, gemmTileKey).filter((tile) => {
    if (gemmTileKey(tile) === gemmTileKey(untuned)) return false;
    try {
      validateGemmTile(tile, limits);
      return true;
    } catch {
      return false;
    }
  });
}

const convKey = (c: ConvTile) => `${c.tm}x${c.tn}x${c.tk}r${c.rm}`;

/** Conv tiles other than `untuned` (what the op runs without a table), valid on this device. */
export function convCandidates(ctx: GpuContext, untuned: ConvTile): ConvTile[] {
  return unique([...CONV_TILE_CANDIDATES, ...CPU_CONV_TILES], convKey).filter((tile) => {
    if (convKey(tile) === convKey(untuned)) return false;
    try {
      resolveTile(ctx, tile);
      return true;
    } catch {
      return false;
    }
  });
}

export function attentionLimits(ctx: GpuContext): { workgroupBytes: number; threads: number } {
  const l = ctx.device.limits;
  return { workgroupBytes: l.maxComputeWorkgroupStorageSize, threads: Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX) };
}

const attentionKey = (a: AttentionTile) => `${a.rows}/${a.keys}/${a.rowsPerThread}/${a.dimsPerThread}/${a.keySplit}`;

/**
 * Attention tiles other than the default for this head dim and key count: with `exhaustive` every valid tile, else
 * the default's neighbours (one of rows, keys, key groups, rows per thread or dims per thread halved or doubled)
 * that are valid on this device.
 */
export function attentionCandidates(ctx: GpuContext, headDim: number, keyCount: number, options: CandidateOptions = {}): AttentionTile[] {
  const limits = attentionLimits(ctx);
  const base = untunedAttentionTile(ctx.adapter, headDim, limits, keyCount);
  const valid = attentionTileCandidates(headDim, limits);
  const validKeys = new Set(valid.map(attentionKey));
  let list: AttentionTile[];
  if (options.exhaustive) list = valid;
  else {
    list = [];
    for (const f of [0.5, 2]) {
      list.push({ ...base, rows: base.rows * f }, { ...base, keys: base.keys * f }, { ...base, keySplit: base.keySplit * f });
      list.push({ ...base, rowsPerThread: base.rowsPerThread * f, rows: base.rows * f });
      list.push({ ...base, dimsPerThread: base.dimsPerThread * f });
    }
    list = list.filter((c) => validKeys.has(attentionKey(c)));
  }
  return unique(list, attentionKey).filter((c) => attentionKey(c) !== attentionKey(base));
}
