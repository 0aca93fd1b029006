/**
 * Row bands: an activation of one image, NHWC [1, H, W, C], too large for one buffer under the binding limit, held as
 * bands of consecutive rows, each in its own pooled buffer. The VAE decoder's full-resolution tensors (SD 1.5 at
 * 512×512: 512·512·256 floats, 268 MB) run this way on adapters with WebGPU's default 128 MiB bindings.
 *
 * A band's buffer is [1, pad + rows + pad, W, C]: its `rows` rows of the image with `pad` (1 or 2) spare rows above
 * and below. A 3×3 convolution (padding 1) needs one row of its neighbours on each side: `fillHalo` copies them
 * into the spare rows next to the band (zeros at the image's top and bottom, the convolution's own padding), and the
 * convolution then runs on the band with its halo, rows + 2 rows in and out. Output rows 1..rows read only real
 * rows and are exactly the whole image's; the first and last see the buffer's edge and are discarded, which makes
 * the output a band with pad 1, in place, with no copy. A fused 2× upsampling turns rows + 2 rows into 2·rows + 4,
 * of which the middle 2·rows are the band's: pad 2. Elementwise ops and 1×1 convolutions (GEMMs) run on the band
 * with its halo too, so their results line up with the convolutions' (residual adds); GroupNorm reads the band's own
 * rows only (`groupNormBands`: whole-image statistics).
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

/** The band's rows with one row above and below (after `fillHalo`, its neighbours' or zeros). */
export function withHalo(band: Band): Tensor {
  return rowsOf(band.tensor, band.pad - 1, band.rows + 2);
}

/** Heights of `count` bands that split `height` rows as evenly as possible, larger ones first. */
export function bandHeights(height: number, count: number): number[] {
  const base = Math.floor(height / count);
  return Array.from({ length: count }, (_, i) => base + (i < height % count ? 1 : 0));
}

/** Copies a whole [1, H, W, C] tensor into bands of the given heights (pad 1). */
export function splitRows(ctx: GpuContext, x: Tensor, heights: readonly number[]): Band[] {
  const [, h, w, c] = x.shape as [number, number, number, number];
  if (heights.reduce((a, b) => a + b, 0) !== h) throw new ShapeError(`bands of ${heights.join('+')} rows do not make the ${h} rows of ${x.label}`);
  const row = rowBytes(x);
  let start = 0;
  return heights.map((rows) => {
    const tensor = ctx.empty([1, rows + 2, w, c], `${x.label} band`);
    ctx.copy(x, start * row, tensor, row, rows * row);
    start += rows;
    return { tensor, rows, pad: 1 };
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

/** Writes each band's halo rows: the last row of the band above and the first of the band below, zeros at the image's edges. */
export function fillHalo(ctx: GpuContext, bands: readonly Band[]): void {
  bands.forEach((band, i) => {
    const row = rowBytes(band.tensor);
    const top = (band.pad - 1) * row;
    const bottom = (band.pad + band.rows) * row;
    const above = bands[i - 1];
    const below = bands[i + 1];
    if (above) ctx.copy(above.tensor, (above.pad + above.rows - 1) * row, band.tensor, top, row);
    else ctx.clear(band.tensor, top, row);
    if (below) ctx.copy(below.tensor, below.pad * row, band.tensor, bottom, row);
    else ctx.clear(band.tensor, bottom, row);
  });
}

/** Bands of the same heights and pad 1 holding `f` of each band with its halo ([1, rows + 2, W', C'] each). */
export function mapWithHalo(bands: readonly Band[], f: (x: Tensor, i: number) => Tensor): Band[] {
  return bands.map((band, i) => ({ tensor: f(withHalo(band), i), rows: band.rows, pad: 1 }));
}

/** GroupNorm (+ SiLU) of the banded image with the whole image's statistics, into new bands (pad 1). */
export function normBands(ctx: GpuContext, bands: readonly Band[], norm: Norm, groups: number, eps: number, silu: boolean): Band[] {
  const out = bands.map((band) => {
    const [, , w, c] = band.tensor.shape as [number, number, number, number];
    return { tensor: ctx.empty([1, band.rows + 2, w, c], 'group-norm band'), rows: band.rows, pad: 1 };
  });
  groupNormBands(ctx, bands.map(inner), out.map(inner), norm.gamma, norm.beta, { groups, eps, silu });
  return out;
}

export function releaseBands(ctx: GpuContext, bands: readonly Band[]): void {
  ctx.release(...bands.map((b) => b.tensor));
}
