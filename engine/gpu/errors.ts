/**
 * Named errors of the engine. Every message says what happened and what the user can do about it,
 * because these texts reach the popup and the command line unchanged.
 */
export class EngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No WebGPU in this browser or runtime, or no adapter could be found. */
export class WebGPUNotFoundError extends EngineError {
  constructor(detail: string) {
    super(
      `WebGPU is not available (${detail}). Use a recent Chrome or Edge with hardware acceleration turned on ` +
        `(chrome://settings/system), or update your graphics driver.`,
    );
  }
}

/** The GPU device was lost (driver reset, GPU removed, tab killed, or `device.destroy()`). */
export class DeviceLostError extends EngineError {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(
      `The GPU device was lost (${reason}: ${detail || 'no detail'}). The current job was stopped; ` +
        `the engine will acquire the GPU again for the next one. If this repeats, close other GPU-heavy tabs ` +
        `or lower the image size.`,
    );
  }
}

/** A tensor or buffer would exceed what this adapter allows in one binding. */
export class BufferTooLargeError extends EngineError {
  constructor(
    readonly label: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `${label} needs ${bytes} bytes in one GPU buffer but this adapter allows ${limit}. ` +
        `Lower the image size or the attention chunk budget in the options.`,
    );
  }
}

/** Inputs to an op or a model do not have the shapes or formats it needs: a programming or model-file error. */
export class ShapeError extends EngineError {}

/** A weight storage format the op does not accept. */
export class UnsupportedFormatError extends EngineError {}

/** The user (or a newer job) cancelled the generation; nothing is wrong. */
export class GenerationCancelledError extends EngineError {
  constructor() {
    super('The generation was cancelled.');
  }
}

/** Generation parameters a user chose that cannot run (size, steps, guidance, strength, seed). */
export class InvalidParameterError extends EngineError {}
