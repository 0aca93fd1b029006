/**
 * The import channel (lib/import-messages.ts) as the pages and the offscreen document use it: a page starts an
 * import of the files it was given and learns whether the offscreen document took it; the offscreen document
 * answers each import request with the import's first state or why it did not start.
 */
import type { StorageFormat } from '../engine/gpu/tensor';
import type { LocalFile } from '../storage/local-import';
import { IMPORT_ACK_MS, ImportNotAcceptedError, parseImportMessage, type ImportFolderRequest, type ImportMessage } from './import-messages';
import { errorResponse, RemoteError } from './messages';
import { request } from './messaging';
import type { InstallState } from './model-messages';

/** The channel's name; documents of other extensions (other origins) have channels of their own. */
export const IMPORT_CHANNEL = 'local-diffusion-import';

/**
 * Hands `files` to the offscreen document (created first if needed, through the background) to import as `format`.
 * Resolves with the import's first state once the document took it; rejects with the error it gave for not
 * starting it, or `ImportNotAcceptedError` when no answer came within `ackMs`.
 */
export async function startImport(files: LocalFile[], format: StorageFormat, ackMs = IMPORT_ACK_MS): Promise<InstallState> {
  const { channel: name } = await request('open-import', {});
  const channel = new BroadcastChannel(name);
  const id = crypto.randomUUID();
  try {
    return await new Promise<InstallState>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ImportNotAcceptedError(ackMs)), ackMs);
      channel.onmessage = ({ data }: MessageEvent<unknown>) => {
        let reply: ImportMessage;
        try {
          reply = parseImportMessage(data);
        } catch {
          // Not an answer to this page (another page's request, or garbage): the offscreen document answers those.
          return;
        }
        if (reply.id !== id || reply.type === 'import-folder') return;
        clearTimeout(timer);
        if (reply.type === 'import-accepted') resolve(reply.install);
        else reject(new RemoteError({ type: 'error', id, name: reply.name, message: reply.message }));
      };
      channel.postMessage({ type: 'import-folder', id, format, files } satisfies ImportFolderRequest);
    });
  } finally {
    channel.close();
  }
}

/**
 * Answers the import requests that arrive on `name` with `start`'s first state of the import, or with why it did not
 * start: a malformed request gets its MessageError, a throwing `start` its error. Returns the function that stops.
 */
export function serveImports(name: string, start: (request: ImportFolderRequest) => InstallState): () => void {
  const channel = new BroadcastChannel(name);
  const reject = (id: string, error: unknown) => {
    const { name: errorName, message } = errorResponse(id, error);
    channel.postMessage({ type: 'import-rejected', id, name: errorName, message });
  };
  channel.onmessage = ({ data }: MessageEvent<unknown>) => {
    let message: ImportMessage;
    try {
      message = parseImportMessage(data);
    } catch (error) {
      // A request can be told why it was refused when its id can be read; answers (this document's own) never are.
      const id = typeof data === 'object' && data !== null ? (data as { id?: unknown }).id : undefined;
      if ((data as { type?: unknown } | null)?.type === 'import-folder' && typeof id === 'string' && id.length > 0) reject(id, error);
      else console.warn(`Ignored a malformed import message: ${(error as Error).message}`);
      return;
    }
    if (message.type !== 'import-folder') return;
    try {
      channel.postMessage({ type: 'import-accepted', id: message.id, install: start(message) });
    } catch (error) {
      reject(message.id, error);
    }
  };
  return () => channel.close();
}
