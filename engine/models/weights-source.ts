/** A safetensors file as a `ParamSource` for the model loaders: shapes from the header, values read on demand. */
import type { SafetensorsFile } from '../io/safetensors';
import type { ParamSource } from './params';

export function safetensorsParams(file: SafetensorsFile): ParamSource {
  const names = [...file.tensors.keys()];
  return {
    shape: (name) => file.tensors.get(name)?.shape,
    read: (name) => file.readTensor(name),
    names: () => names,
  };
}
