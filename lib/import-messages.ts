/**
 * The import channel's messages: how a page hands a model folder chosen on disk to the offscreen document, which
 * imports it. `runtime.sendMessage` serialises to JSON, which turns `File`s into `{}`; a `BroadcastChannel` clones
 * them structurally, and a cloned `File` still reads from the disk after the page that chose it has closed, so the
 * import goes on without it. Only documents of the extension's own origin can open the channel (web pages and
 * content scripts have other origins), and the receiving end validates every message as lib/messages.ts does:
 *
 *   options page ──import-folder (id, format, files)──▶ offscreen document
 *                ◀──import-accepted (id, install) / import-rejected (id, error name, message)──
 *
 * What follows an accepted import (progress, its end) comes as `install-update` events like an install's. This
 * module is plain TypeScript, with no extension API, so its checks are the same in every context.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import type { LocalFile } from '../storage/local-import';
import { MessageError } from './messages';
import { isInstallState, isWeightFormat, WEIGHT_FORMAT_NAMES, type InstallState } from './model-messages';

/** How long a page waits for the offscreen document to take an import before it says so. */
export const IMPORT_ACK_MS = 5000;

/** Bounds of an import request, far beyond a diffusers folder (a dozen files, paths of a few dozen characters). */
export const IMPORT_LIMITS = { files: 10_000, pathChars: 1000, idChars: 100 } as const;

/** A page → the offscreen document: import these files (a pipeline folder, or a folder above it) as `format`. */
export interface ImportFolderRequest {
  type: 'import-folder';
  id: string;
  format: StorageFormat;
  files: LocalFile[];
}
/** The offscreen document → the page that asked: the import runs; its `install-update` events follow. */
export interface ImportAccepted {
  type: 'import-accepted';
  id: string;
  install: InstallState;
}
/** The offscreen document → the page that asked: the import did not start, with the error's class name and message. */
export interface ImportRejected {
  type: 'import-rejected';
  id: string;
  name: string;
  message: string;
}
export type ImportMessage = ImportFolderRequest | ImportAccepted | ImportRejected;

/** No answer came from the offscreen document in time: the import did not start. */
export class ImportNotAcceptedError extends Error {
  override readonly name = 'ImportNotAcceptedError';
  constructor(waitedMs: number) {
    super(`The extension's engine page did not take the import within ${Math.round(waitedMs / 1000)} s. Close and reopen this page, then choose the folder again.`);
  }
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function idOf(message: Json): string {
  const { id } = message;
  if (typeof id !== 'string' || id.length === 0 || id.length > IMPORT_LIMITS.idChars) throw new MessageError(`${String(message.type)} message without a valid id`);
  return id;
}

function onlyFields(message: Json, fields: readonly string[]): void {
  const extra = Object.keys(message).filter((k) => !['type', 'id', ...fields].includes(k));
  if (extra.length) throw new MessageError(`${String(message.type)} message with unexpected fields: ${extra.join(', ')}`);
}

function filesOf(value: unknown): LocalFile[] {
  if (!Array.isArray(value) || value.length === 0) throw new MessageError('import-folder message without files');
  if (value.length > IMPORT_LIMITS.files) throw new MessageError(`import-folder message with more than ${IMPORT_LIMITS.files} files`);
  return value.map((f: unknown, i) => {
    if (!isRecord(f) || Object.keys(f).some((k) => k !== 'path' && k !== 'blob')) throw new MessageError(`import-folder message: file ${i} is not a path and its contents`);
    const { path, blob } = f;
    // eslint-disable-next-line no-control-regex -- control characters are what the check rejects
    if (typeof path !== 'string' || path.length === 0 || path.length > IMPORT_LIMITS.pathChars || /[\u0000-\u001f]/.test(path)) {
      throw new MessageError(`import-folder message: file ${i} has no valid path`);
    }
    if (!(blob instanceof Blob)) throw new MessageError(`import-folder message: file ${i} (${path.slice(0, 80)}) has no contents`);
    return { path, blob };
  });
}

/** The import message `message` is, or a MessageError saying why it is none. */
export function parseImportMessage(message: unknown): ImportMessage {
  if (!isRecord(message)) throw new MessageError('expected an import message object');
  switch (message.type) {
    case 'import-folder': {
      onlyFields(message, ['format', 'files']);
      const id = idOf(message);
      if (!isWeightFormat(message.format)) throw new MessageError(`import-folder message: the weight format must be one of ${WEIGHT_FORMAT_NAMES.join(', ')}`);
      return { type: 'import-folder', id, format: message.format, files: filesOf(message.files) };
    }
    case 'import-accepted': {
      onlyFields(message, ['install']);
      const id = idOf(message);
      if (!isInstallState(message.install) || message.install.repo !== null) throw new MessageError('import-accepted message without a valid import state');
      return { type: 'import-accepted', id, install: message.install };
    }
    case 'import-rejected': {
      onlyFields(message, ['name', 'message']);
      const id = idOf(message);
      if (typeof message.name !== 'string' || message.name.length === 0 || typeof message.message !== 'string') throw new MessageError('malformed import-rejected message');
      return { type: 'import-rejected', id, name: message.name, message: message.message };
    }
    default:
      throw new MessageError(`unknown import message type ${typeof message.type === 'string' ? JSON.stringify(message.type.slice(0, 40)) : typeof message.type}`);
  }
}
