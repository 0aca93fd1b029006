/**
 * Named errors of the model store. Every message says what happened and what the user can do, because the text
 * reaches the options page and the popup unchanged. Labels in messages are model ids, file paths and URLs, never
 * file contents.
 */

export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The hub has no such file (HTTP 404): a wrong repository id or revision, or a variant the repository lacks. */
export class FileNotFoundError extends StorageError {
  constructor(readonly url: string) {
    super(`${url} does not exist (HTTP 404). Check the repository id and revision; the repository must be a diffusers Stable Diffusion pipeline.`);
  }
}

/** The hub answered with a status that retrying will not fix (401, 403, 400, ...). */
export class HubError extends StorageError {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    const hint =
      status === 401 || status === 403
        ? 'The repository is gated or private: open it on huggingface.co and accept its licence, or choose another model.'
        : 'Try again later, or choose another model.';
    super(`${url} answered HTTP ${status}. ${hint}`);
  }
}

/** A download kept failing (network errors or server errors) through every retry. What arrived is kept for a resume. */
export class DownloadFailedError extends StorageError {
  constructor(
    readonly url: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(
      `Downloading ${url} failed ${attempts} times in a row (${describe(cause)}). The bytes received so far are kept: ` +
        `check the network connection and start the download again to resume it.`,
      { cause },
    );
  }
}

/** The bytes received are not the file the hub published; they were deleted so nothing damaged is kept. */
export class CorruptDownloadError extends StorageError {
  constructor(
    readonly url: string,
    readonly detail: string,
  ) {
    super(`The download of ${url} is damaged (${detail}). It was discarded; start the download again to fetch it anew.`);
  }
}

/** The server sent more or fewer bytes than the file's published size. */
export class DownloadSizeError extends CorruptDownloadError {
  constructor(
    url: string,
    readonly expected: number,
    readonly received: number,
  ) {
    super(url, received > expected ? `expected ${expected} bytes, the server sent more (${received} at least)` : `expected ${expected} bytes, the server sent ${received}`);
  }
}

/** The sha256 of the bytes received differs from the hash the hub publishes for the file. */
export class DownloadHashError extends CorruptDownloadError {
  constructor(
    url: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(url, `sha256 ${actual}, expected ${expected}`);
  }
}

/** The download was cancelled; the bytes received so far are kept and a later download resumes from them. */
export class DownloadCancelledError extends StorageError {
  /** `what`: the URL or the model being downloaded. */
  constructor(readonly what: string) {
    super(`The download of ${what} was cancelled. Start it again to resume where it stopped.`);
  }
}

/** Not enough storage for this browser profile: before a download, or IndexedDB refused a write. */
export class InsufficientStorageError extends StorageError {
  constructor(
    /** Bytes the operation needs; undefined when IndexedDB refused a write without telling how much is missing. */
    readonly needed: number | undefined,
    /** Bytes free for this extension, when known. */
    readonly available: number | undefined,
    cause?: unknown,
  ) {
    const need = needed === undefined ? 'more space' : `about ${formatBytes(needed)}`;
    const free = available === undefined ? '' : ` but only ${formatBytes(Math.max(0, available))} is free for this extension`;
    super(
      `Not enough storage: this needs ${need}${free}. Free disk space or delete a stored model, then start again; ` +
        `a download in progress resumes where it stopped and the models already stored are untouched.`,
      { cause },
    );
  }
}

/** A stored weight chunk is missing or no longer matches the hash recorded when it was written (disk error, tampering). */
export class CorruptChunkError extends StorageError {
  constructor(
    readonly modelId: string,
    readonly detail: string,
  ) {
    super(`The stored weights of ${modelId} are damaged (${detail}). Delete the model and download it again.`);
  }
}

/** No stored model has this id. */
export class ModelNotFoundError extends StorageError {
  constructor(readonly modelId: string) {
    super(`No model "${modelId}" is stored. Install it from the model list first.`);
  }
}

/** The model's download or import has not finished, so it cannot be loaded. */
export class ModelIncompleteError extends StorageError {
  constructor(
    readonly modelId: string,
    readonly status: string,
  ) {
    super(`The model ${modelId} is not completely stored yet (${status}). Start its installation again to finish it, or delete it.`);
  }
}

/** A complete model with this id is already stored; importing again would replace it. */
export class ModelExistsError extends StorageError {
  constructor(readonly modelId: string) {
    super(`A model "${modelId}" is already stored. Delete it first to import it again (for example in another weight format).`);
  }
}

/** The files given to an import are not a diffusers Stable Diffusion pipeline. */
export class InvalidModelFilesError extends StorageError {}

/** An import was asked for a model that an install or import is writing now. */
export class ModelBusyError extends StorageError {
  constructor(readonly modelId: string) {
    super(`${modelId} is being installed or imported already. Wait for it to finish, or stop it first.`);
  }
}

/** A Hugging Face repository id that is not of the form `owner/name`. */
export class InvalidRepoIdError extends StorageError {
  constructor(readonly repoId: string) {
    super(`"${repoId}" is not a Hugging Face repository id: use the form owner/name, e.g. stabilityai/sd-turbo.`);
  }
}

/** 1536 → "1.5 KB"; decimal units as disks and the browser's settings show them. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
