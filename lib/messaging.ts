/**
 * The extension-API side of lib/messages.ts: answering requests in one context, making them from another, and
 * sending and receiving the offscreen document's events.
 */
import { browser } from 'wxt/browser';
import {
  MessageError,
  RemoteError,
  addressee,
  errorResponse,
  isFromThisExtension,
  messageId,
  parseEvent,
  parseRequest,
  parseResponse,
  type EventMessage,
  type PayloadOf,
  type RequestMessage,
  type RequestOf,
  type RequestType,
  type ResponseMessage,
  type Results,
  type Target,
} from './messages';

const fromThisExtension = (sender: { id?: string; url?: string }) => isFromThisExtension(sender, browser.runtime.id, browser.runtime.getURL('/'));

/**
 * Answers the requests addressed to `target` with `handle`'s response; a malformed request or one from outside this
 * extension is answered with an `error` response, a throwing handler likewise.
 */
export function serve(target: Target, handle: (request: RequestMessage) => Promise<ResponseMessage>): void {
  browser.runtime.onMessage.addListener((message: unknown, sender) => {
    if (addressee(message) !== target) return undefined;
    const id = messageId(message);
    if (!fromThisExtension(sender)) {
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

/**
 * Asks the background for `type` with its fields (`{}` for requests without any); resolves with the result or
 * rejects with the RemoteError it was answered with.
 */
export async function request<T extends RequestType>(type: T, payload: PayloadOf<T>): Promise<Results[T]> {
  const message = { ...payload, target: 'background', type, id: crypto.randomUUID() } as RequestOf<T>;
  const response = await forward(message);
  if (response.type === 'error') throw new RemoteError(response);
  return response.value;
}

/**
 * Sends an event to every other context of the extension. Nobody listening (no page open, the service worker
 * stopped and not yet woken) is normal for an event, so a failed delivery is not an error.
 */
export function publish(event: EventMessage): void {
  browser.runtime.sendMessage(event).catch(() => undefined);
}

/** Calls `listener` with each valid event from this extension; returns the function that stops listening. */
export function onEvent(listener: (event: EventMessage) => void): () => void {
  const receive = (message: unknown, sender: { id?: string; url?: string }) => {
    if (addressee(message) !== 'broadcast' || !fromThisExtension(sender)) return undefined;
    let event: EventMessage;
    try {
      event = parseEvent(message);
    } catch (error) {
      console.warn(`Ignored a malformed event: ${(error as Error).message}`);
      return undefined;
    }
    listener(event);
    return undefined;
  };
  browser.runtime.onMessage.addListener(receive);
  return () => browser.runtime.onMessage.removeListener(receive);
}
