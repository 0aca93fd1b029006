/**
 * Row bands: an activation of one image, NHWC [1, H, W, C], too large for one buffer under the binding limit, held as
 * bands of consecutive rows, each in its own pooled buffer. The VAE decoder's full-resolution tensors (SD 1.5 at
 * 512×512: 512·512·256 floats, 268 MB) run this way on adapters with WebGPU's default 128 MiB bindings.
 *
 * A band's buffer is [1, pad + rows + pad, W, C]: its `rows` rows of the image with `pad` (2 or 4) spare rows above
 * and below. A 3×3 convolution (padding 1) needs one row of its neighbours on each side: `fillHalo` copies HALO = 2
 * rows of them into the spare rows next to the band (zeros beyond the image's top and bottom, the convolution's own
 * padding), and the convolution then runs on the band with its halo, rows + 4 rows in and out. Output rows 2..rows+1
 * read only real rows and are the whole image's; the others see the buffer's edge and are discarded, which makes
 * the output a band with pad 2, in place, with no copy. A fused 2× upsampling turns rows + 4 rows into 2·rows + 8, of
 * which the middle 2·rows are the band's: pad 4. Elementwise ops and 1×1 convolutions (GEMMs) run on the band with
 * its halo too, so their results line up with the convolutions' (residual adds); GroupNorm reads the band's own rows
 * only (`groupNormBands`: whole-image statistics).
 *
 * Why two halo rows where the convolution needs one: bands start at even rows, so a convolution's first output row
 * (2 above the band) is even too and Winograd's 2×2 output tiles fall where they fall on the whole image. With
 * quantised weights the transformed Winograd kernel is not exactly shift-invariant (its rounding differs between the
 * rows of a tile: measured 9e-3 of the output with int8 weights), so tiles shifted by one row would not reproduce
 * the whole-image result.
 *
 * Views into a band's buffer start at whole rows, so a row's bytes (W·C·4) must be a multiple of the device's
 * storage offset alignment (256 bytes: W·C a multiple of 64, true of the VAE's 128..512 channels).
 */
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { groupNormBands } from '../ops/group-norm';
import type { Norm } from './params';

export interface Band {
  /** The band's buffer: [1, pad + rows + pad, W, C]. */
  readonly tensor: Tensor;
  /** Image rows held. */
  readonly rows: number;
  /** Spare rows above and below them. */
  readonly pad: number;
}

/** Rows of neighbours kept above and below a band for a convolution (see above). */
export const HALO = 2;

function rowBytes(t: Tensor): number {
  const [, , w, c] = t.shape as [number, number, number, number];
  return w * c * 4;
}

/** Rows [start, start + rows) of a [1, H, W, C] tensor, as a tensor of its own (the same buffer). */
export function rowsOf(t: Tensor, start: number, rows: number): Tensor {
  const [b, h, w, c] = t.shape as [number, number, number, number];
  if (b !== 1 || start < 0 || start + rows > h) throw new ShapeError(`rows ${start}..${start + rows} of ${t.label} [${t.shape.join(',')}] do not exist`);
  return { ...t, shape: [1, rows, w, c], byteOffset: t.byteOffset + start * rowBytes(t), byteLength: rows * rowBytes(t) };
}

/** The band's own rows. */
export function inner(band: Band): Tensor {
  return rowsOf(band.tensor, band.pad, band.rows);
}

/** The band's rows with HALO rows above and below (after `fillHalo`, its neighbours' or zeros). */
export function withHalo(band: Band): Tensor {
  return rowsOf(band.tensor, band.pad - HALO, band.rows + 2 * HALO);
}

/**
 * Heights of `count` bands that split `height` rows as evenly as possible in whole units of `unit` rows (larger
 * bands first), the last band taking what is left over a multiple of `unit`; so every band starts at a multiple of
 * `unit`. `count` is at most ⌊height / unit⌋ (or 1).
 */
export function bandHeights(height: number, count: number, unit: number): number[] {
  const units = Math.floor(height / unit);
  const base = Math.floor(units / count);
  const heights = Array.from({ length: count }, (_, i) => (base + (i < units % count ? 1 : 0)) * unit);
  heights[count - 1]! += height - units * unit;
  if (heights.some((h) => h < 1)) throw new ShapeError(`cannot split ${height} rows into ${count} bands of whole ${unit}-row units`);
  return heights;
}

/** Copies a whole [1, H, W, C] tensor into bands of the given heights (pad HALO). */
export function splitRows(ctx: GpuContext, x: Tensor, heights: readonly number[]): Band[] {
  const [, h, w, c] = x.shape as [number, number, number, number];
  if (heights.reduce((a, b) => a + b, 0) !== h) throw new ShapeError(`bands of ${heights.join('+')} rows do not make the ${h} rows of ${x.label}`);
  const row = rowBytes(x);
  let start = 0;
  return heights.map((rows) => {
    const tensor = ctx.empty([1, rows + 2 * HALO, w, c], `${x.label} band`);
    ctx.copy(x, start * row, tensor, HALO * row, rows * row);
    start += rows;
    return { tensor, rows, pad: HALO };
  });
}

/** Copies the bands' own rows into `out` from byte `offset` on (their image's rows, one after another). */
export function joinRows(ctx: GpuContext, bands: readonly Band[], out: Tensor, offset: number): void {
  let at = offset;
  for (const band of bands) {
    const bytes = band.rows * rowBytes(band.tensor);
    ctx.copy(band.tensor, band.pad * rowBytes(band.tensor), out, at, bytes);
    at += bytes;
  }
}

/** Writes each band's HALO rows above and below: its neighbours' rows, zeros beyond the image's top and bottom. */
export function fillHalo(ctx: GpuContext, bands: readonly Band[]): void {
  const starts = bands.map((_, i) => bands.slice(0, i).reduce((n, b) => n + b.rows, 0));
  const height = starts[starts.length - 1]! + bands[bands.length - 1]!.rows;
  // Copies image row g (or zeros outside the image) into row `at` of band i's buffer.
  const put = (i: number, at: number, g: number) => {
    const band = bands[i]!;
    const row = rowBytes(band.tensor);
    if (g < 0 || g >= height) return ctx.clear(band.tensor, at * row, row);
    const j = starts.findLastIndex((s) => s <= g);
    const src = bands[j]!;
    ctx.copy(src.tensor, (src.pad + g - starts[j]!) * row, band.tensor, at * row, row);
  };
  bands.forEach((band, i) => {
    for (let k = 1; k <= HALO; k++) {
      put(i, band.pad - k, starts[i]! - k);
      put(i, band.pad + band.rows - 1 + k, starts[i]! + band.rows - 1 + k);
    }
  });
}

/** Bands of the same heights and pad HALO holding `f` of each band with its halo ([1, rows + 2·HALO, W', C'] each). */
export function mapWithHalo(bands: readonly Band[], f: (x: Tensor, i: number) => Tensor): Band[] {
  return bands.map((band, i) => ({ tensor: f(withHalo(band), i), rows: band.rows, pad: HALO }));
}

/** GroupNorm (+ SiLU) of the banded image with the whole image's statistics, into new bands (pad HALO). */
export function normBands(ctx: GpuContext, bands: readonly Band[], norm: Norm, groups: number, eps: number, silu: boolean): Band[] {
  const out = bands.map((band) => {
    const [, , w, c] = band.tensor.shape as [number, number, number, number];
    return { tensor: ctx.empty([1, band.rows + 2 * HALO, w, c], 'group-norm band'), rows: band.rows, pad: HALO };
  });
  groupNormBands(ctx, bands.map(inner), out.map(inner), norm.gamma, norm.beta, { groups, eps, silu });
  return out;
}

export function releaseBands(ctx: GpuContext, bands: readonly Band[]): void {
  ctx.release(...bands.map((b) => b.tensor));
}
