/**
 * A safetensors file as a `ParamSource` for the model loaders: shapes from the header, values read on demand and
 * checked to be finite (a NaN weight is a damaged file: CorruptModelError).
 */
import { checkFinite, type SafetensorsFile } from '../io/safetensors';
import type { ParamSource } from './params';

export function safetensorsParams(file: SafetensorsFile): ParamSource {
  const names = [...file.tensors.keys()];
  return {
    shape: (name) => file.tensors.get(name)?.shape,
    read: async (name) => checkFinite(file.label, name, await file.readTensor(name)),
    names: () => names,
  };
}
