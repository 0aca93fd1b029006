/**
 * NaN and infinite weights: a damaged or badly exported checkpoint is refused with a CorruptModelError naming the
 * tensor and telling the user to download the model again, whether it is loaded from a folder (the CLI, the built-in
 * model) or imported into the store; an import refused this way leaves no usable model behind and the other stored
 * models load exactly as before.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptModelError } from '../../engine/io/errors';
import { openSafetensors } from '../../engine/io/safetensors';
import { safetensorsParams } from '../../engine/models/weights-source';
import { f32ToF16Bits } from '../../engine/quant/f16';
import { importLocalModel } from '../../storage/local-import';
import { listModels, openStoredModel } from '../../storage/model-store';
import { safetensorsBytes } from '../unit/helpers/safetensors-file';
import { expectSameTensors, FIXTURE_DIR, fixtureFiles, freshDb } from './fixture';

const UNET = 'unet/diffusion_pytorch_model.safetensors';

/** The fixture UNet with one value of `tensor` replaced by `value`. */
async function unetWith(tensor: string, value: number): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(await readFile(join(FIXTURE_DIR, UNET)));
  const info = (await openSafetensors(bytes)).tensors.get(tensor)!;
  expect(info.dtype).toBe('F32');
  new DataView(bytes.buffer).setFloat32(info.byteOffset + 4 * 5, value, true);
  return bytes;
}

describe('non-finite weights', () => {
  it.each([NaN, Infinity, -Infinity])('%s in an F32 or F16 tensor fails the load with CorruptModelError', async (value) => {
    const bytes = await unetWith('conv_in.weight', value);
    const params = safetensorsParams(await openSafetensors(bytes, UNET));
    const error = await params.read('conv_in.weight').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptModelError);
    expect((error as Error).message).toMatch(/unet\/diffusion_pytorch_model\.safetensors is damaged .*"conv_in\.weight" holds (NaN|-?Infinity) at index 5.*download it again/);
    // The other tensors of the file still read: only the damaged one is refused.
    expect((await params.read('conv_in.bias')).length).toBe(32);

    const f16 = Uint16Array.of(0x3c00, f32ToF16Bits(value), 0);
    const half = safetensorsParams(await openSafetensors(safetensorsBytes({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 6] } }, new Uint8Array(f16.buffer)), 'h.safetensors'));
    await expect(half.read('w')).rejects.toThrow(/"w" holds .* at index 1/);
  });

  it('refuses an import with a NaN weight; the model is not listed as usable and the others load intact', async () => {
    const { db } = await freshDb();
    const files = await fixtureFiles();
    await importLocalModel(db, 'good', files, { format: 'f16', chunkBytes: 256 << 10 });

    const damaged = await unetWith('down_blocks.0.resnets.0.conv1.weight', NaN);
    const withNaN = files.map((f) => (f.path.endsWith(UNET) ? { ...f, blob: new Blob([damaged]) } : f));
    const error = await importLocalModel(db, 'bad', withNaN, { format: 'f16', chunkBytes: 256 << 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptModelError);
    expect((error as Error).message).toMatch(/"down_blocks\.0\.resnets\.0\.conv1\.weight" holds NaN.*Delete this model and download it again/);

    const models = await listModels(db);
    expect(models.find((m) => m.id === 'good')?.status).toBe('complete');
    expect(models.find((m) => m.id === 'bad')?.status).not.toBe('complete');
    await expect(openStoredModel(db, 'bad')).rejects.toThrow(/not completely stored/);
    const good = await openStoredModel(db, 'good');
    await expectSameTensors(await good.weights('unet'), new Uint8Array(await readFile(join(FIXTURE_DIR, UNET))), 'f16');
  });
});
