/**
 * Named errors for the files a model is made of: weights (safetensors), configs (JSON) and tokenizer files.
 * Every message names the file and says what the user can do, because the text reaches the popup and the command
 * line unchanged. `file` is a label (a path or a name in the model store), never file contents.
 */
import { EngineError } from '../gpu/errors';

/** The bytes of a model file are not what its format promises: truncated download, disk error, wrong file. */
export class CorruptModelError extends EngineError {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(
      `The model file ${file} is damaged or incomplete (${detail}). Delete this model and download it again; ` +
        `if it still fails, the file on the server is not a valid model file.`,
    );
  }
}

/** A tensor is stored in an element type the engine cannot convert (only F32, F16 and BF16 are read). */
export class UnsupportedDtypeError extends EngineError {
  constructor(
    readonly file: string,
    readonly tensor: string,
    readonly dtype: string,
  ) {
    super(
      `Tensor "${tensor}" in ${file} is stored as ${dtype}; this engine reads F32, F16 and BF16 weights only. ` +
        `Use a float32, float16 or bfloat16 version of the model (not a quantised or fp8 export).`,
    );
  }
}

/** A config value has the wrong type or an impossible value: the config file is damaged or hand-edited wrongly. */
export class InvalidConfigError extends EngineError {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly detail: string,
  ) {
    super(
      `The model config ${file} has an invalid "${key}": ${detail}. The file is damaged or was edited by hand; ` +
        `download the model again.`,
    );
  }
}

/** A well-formed config asks for an architecture feature this engine does not implement. */
export class UnsupportedModelError extends EngineError {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly detail: string,
  ) {
    super(
      `The model config ${file} uses "${key}" ${detail}, which this engine does not support. ` +
        `It runs Stable Diffusion 1.x and 2.x models (and fine-tunes of them); choose one of those.`,
    );
  }
}
