/**
 * The message protocol between the extension's contexts, declared once.
 *
 *   popup / options ──request──▶ background ──request, target 'offscreen'──▶ offscreen document
 *                   ◀─response──            ◀────────────response──────────
 *
 * `runtime.sendMessage` reaches every extension context except the sender, so a request names the context that must
 * answer it (`target`) and every other context stays silent: a reply channel takes the first answer only. Messages
 * are JSON (sendMessage serialises them), and the receiving end validates everything it is handed: the sender must
 * be one of this extension's own pages and the payload must match the types below. This module is plain TypeScript
 * (no extension API), so its checks are the same in every context.
 */
import type { AdapterFeatures, AdapterSummary } from '../engine/gpu/device';

export const TARGETS = ['background', 'offscreen'] as const;
export type Target = (typeof TARGETS)[number];

/** What the engine reports about itself: the adapter it runs on and whether a kernel matched the CPU reference. */
export interface EngineStatus {
  adapter: AdapterSummary;
  /** One line for display, `adapterName(adapter)`. */
  adapterName: string;
  selfCheck: {
    passed: boolean;
    /** max |gpu − cpu| / max |cpu| over the check's values; null when the GPU returned NaN or infinity. */
    relativeError: number | null;
  };
}

/** Every request type with the value its `result` carries. */
export interface Results {
  'engine-status': EngineStatus;
}
export type RequestType = keyof Results;

export interface EngineStatusRequest {
  target: Target;
  type: 'engine-status';
  id: string;
}
export type RequestMessage = EngineStatusRequest;
export type RequestOf<T extends RequestType> = Extract<RequestMessage, { type: T }>;

export interface ResultResponse<T extends RequestType = RequestType> {
  type: 'result';
  id: string;
  value: Results[T];
}

/** A failure, carrying the engine's error class name (`WebGPUNotFoundError`, …) so the UI can say what to do. */
export interface ErrorResponse {
  type: 'error';
  id: string;
  name: string;
  message: string;
}

/** Progress of a long request; travels as its own runtime message, since a reply channel answers only once. */
export interface ProgressResponse {
  type: 'progress';
  id: string;
  stage: string;
  done: number;
  total: number;
}

export type ResponseMessage<T extends RequestType = RequestType> = ResultResponse<T> | ErrorResponse | ProgressResponse;

/** A message that is not part of the protocol, or comes from outside this extension. */
export class MessageError extends Error {
  override readonly name = 'MessageError';
}

/** The engine-side error of an `error` response, rethrown where the request was made; keeps the remote name. */
export class RemoteError extends Error {
  constructor(response: ErrorResponse) {
    super(response.message);
    this.name = response.name;
  }
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isFeatures(value: unknown): value is AdapterFeatures {
  return isRecord(value) && ['shaderF16', 'subgroups', 'timestampQuery'].every((k) => typeof value[k] === 'boolean');
}

function isAdapterSummary(value: unknown): value is AdapterSummary {
  return (
    isRecord(value) &&
    ['vendor', 'architecture', 'device', 'description'].every((k) => typeof value[k] === 'string') &&
    isFeatures(value.features) &&
    isRecord(value.limits) &&
    Object.values(value.limits).every(isFiniteNumber)
  );
}

function isEngineStatus(value: unknown): value is EngineStatus {
  return (
    isRecord(value) &&
    isAdapterSummary(value.adapter) &&
    typeof value.adapterName === 'string' &&
    isRecord(value.selfCheck) &&
    typeof value.selfCheck.passed === 'boolean' &&
    (value.selfCheck.relativeError === null || isFiniteNumber(value.selfCheck.relativeError))
  );
}

const RESULT_CHECKS: { [T in RequestType]: (value: unknown) => value is Results[T] } = {
  'engine-status': isEngineStatus,
};

function isRequestType(value: unknown): value is RequestType {
  return typeof value === 'string' && Object.hasOwn(RESULT_CHECKS, value);
}

/**
 * The context a message is addressed to. Messages without a valid target are the background's to answer, so a
 * malformed message gets exactly one answer (an error) rather than none or several.
 */
export function addressee(message: unknown): Target {
  const target = isRecord(message) ? message.target : undefined;
  return TARGETS.find((t) => t === target) ?? 'background';
}

/** The request `message` is, or a MessageError saying why it is none. */
export function parseRequest(message: unknown): RequestMessage {
  if (!isRecord(message)) throw new MessageError(`expected a request object, got ${describe(message)}`);
  if (!isNonEmptyString(message.id)) throw new MessageError('request without an id');
  if (!isRequestType(message.type)) throw new MessageError(`unknown request type ${describe(message.type)}`);
  const extra = Object.keys(message).filter((k) => !['target', 'type', 'id'].includes(k));
  if (extra.length) throw new MessageError(`${message.type} request with unexpected fields: ${extra.join(', ')}`);
  return { target: addressee(message), type: message.type, id: message.id };
}

/** The response to `request` that `message` is, or a MessageError saying why it is none. */
export function parseResponse<T extends RequestType>(message: unknown, request: RequestOf<T>): ResponseMessage<T> {
  if (!isRecord(message)) throw new MessageError(`expected a response to ${request.type}, got ${describe(message)}`);
  if (message.id !== request.id) throw new MessageError(`response for ${describe(message.id)} to request ${request.id}`);
  const { id } = request;
  switch (message.type) {
    case 'result':
      if (!RESULT_CHECKS[request.type](message.value)) throw new MessageError(`malformed ${request.type} result`);
      return { type: 'result', id, value: message.value as Results[T] };
    case 'error':
      if (!isNonEmptyString(message.name) || typeof message.message !== 'string') throw new MessageError('malformed error response');
      return { type: 'error', id, name: message.name, message: message.message };
    case 'progress':
      if (typeof message.stage !== 'string' || !isFiniteNumber(message.done) || !isFiniteNumber(message.total)) {
        throw new MessageError('malformed progress response');
      }
      return { type: 'progress', id, stage: message.stage, done: message.done, total: message.total };
    default:
      throw new MessageError(`unknown response type ${describe(message.type)}`);
  }
}

export function resultResponse<T extends RequestType>(request: RequestOf<T>, value: Results[T]): ResultResponse<T> {
  return { type: 'result', id: request.id, value };
}

/** `error` as a response; `id` is empty when the request was too malformed to have one. */
export function errorResponse(id: string, error: unknown): ErrorResponse {
  if (error instanceof Error) return { type: 'error', id, name: error.name, message: error.message };
  return { type: 'error', id, name: 'Error', message: String(error) };
}

/** The id of `message` when it has one, so even a rejected request can be answered in kind. */
export function messageId(message: unknown): string {
  return isRecord(message) && typeof message.id === 'string' ? message.id : '';
}

/**
 * Whether a message was sent by one of this extension's own pages. `sender.id` alone also admits this extension's
 * content scripts, which run inside web pages; the page URL must be under the extension's origin as well.
 */
export function isFromThisExtension(sender: { id?: string; url?: string }, extensionId: string, extensionOrigin: string): boolean {
  return sender.id === extensionId && typeof sender.url === 'string' && sender.url.startsWith(extensionOrigin);
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
}
