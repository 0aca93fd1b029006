/**
 * Builds safetensors files in memory for tests, including deliberately broken ones: entries give dtype, shape and
 * data_offsets verbatim, so a test can write whatever header it wants, valid or not.
 */
export interface RawEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** A file from a header object (tensor entries and optional `__metadata__`) and the data section. */
export function safetensorsBytes(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  return withHeaderText(JSON.stringify(header), data);
}

/** A file whose header bytes are `text` verbatim (not necessarily JSON). */
export function withHeaderText(text: string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** A valid file holding the given f32 tensors, packed back to back in the given order. */
export function f32File(tensors: Record<string, { shape: number[]; values: Float32Array }>): Uint8Array {
  const header: Record<string, RawEntry> = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + values.byteLength] };
    parts.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    offset += values.byteLength;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.byteLength;
  }
  return safetensorsBytes(header, data);
}
