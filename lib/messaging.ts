/**
 * The extension-API side of lib/messages.ts: answering requests in one context and making them from another.
 */
import { browser } from 'wxt/browser';
import {
  MessageError,
  RemoteError,
  addressee,
  errorResponse,
  isFromThisExtension,
  messageId,
  parseRequest,
  parseResponse,
  type RequestMessage,
  type RequestOf,
  type RequestType,
  type ResponseMessage,
  type Results,
  type Target,
} from './messages';

/**
 * Answers the requests addressed to `target` with `handle`'s response; a malformed request or one from outside this
 * extension is answered with an `error` response, a throwing handler likewise.
 */
export function serve(target: Target, handle: (request: RequestMessage) => Promise<ResponseMessage>): void {
  browser.runtime.onMessage.addListener((message: unknown, sender) => {
    if (addressee(message) !== target) return undefined;
    const id = messageId(message);
    if (!isFromThisExtension(sender, browser.runtime.id, browser.runtime.getURL('/'))) {
      return Promise.resolve(errorResponse(id, new MessageError(`rejected a message from ${sender.url ?? 'an unknown sender'}`)));
    }
    const answer = async () => handle(parseRequest(message));
    return answer().catch((error: unknown) => errorResponse(id, error));
  });
}

/** Sends `request` and checks the answer; the raw response, for a context that passes it on unchanged. */
export async function forward<T extends RequestType>(request: RequestOf<T>): Promise<ResponseMessage<T>> {
  return parseResponse(await browser.runtime.sendMessage(request), request);
}

/** Asks the background for `type`; resolves with the result or rejects with the RemoteError it was answered with. */
export async function request<T extends RequestType>(type: T): Promise<Results[T]> {
  const message = { target: 'background', type, id: crypto.randomUUID() } as RequestOf<T>;
  const response = await forward(message);
  if (response.type === 'error') throw new RemoteError(response);
  if (response.type !== 'result') throw new MessageError(`${type}: expected a result, got ${response.type}`);
  return response.value;
}
