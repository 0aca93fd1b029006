/**
 * Records every network request of every context of a running Chromium — pages, the extension's service worker, its
 * offscreen document, frames and workers inside them — through the browser's DevTools protocol.
 *
 * Playwright's `request` events cover only the pages and frames it drives, and its CDP sessions cannot speak to the
 * targets a browser-level auto-attach creates (Chromium allows only the flattened protocol there, and Playwright's
 * connection drops the messages of sessions it did not open itself). So the recorder opens a second DevTools
 * connection of its own (Chromium started with `--remote-debugging-port=0`; the port is in the profile's
 * `DevToolsActivePort` file) and on it:
 *
 * - `Target.setAutoAttach({autoAttach, waitForDebuggerOnStart, flatten})` on the browser: attached to every target
 *   that exists, and every new target is held before it runs or loads anything;
 * - on each attached target `Network.enable`, the same auto-attach for its own children (frames, dedicated workers),
 *   then `Runtime.runIfWaitingForDebugger`;
 * - `Network.requestWillBeSent` (redirects included: each hop is a request), `Network.webSocketCreated` and
 *   `Network.webTransportCreated` of every target are recorded with the target that made them.
 *
 * Not seen: requests the browser process makes on its own or on an extension's behalf; Chromium's net log
 * (net-log.ts) holds those.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface RecordedRequest {
  url: string;
  /** HTTP method, or `WEBSOCKET` / `WEBTRANSPORT`. */
  method: string;
  /** The DevTools type of the target that made it: `page`, `service_worker`, `other` (offscreen documents), `iframe`, `worker`… */
  targetType: string;
  /** That target's URL when it made the request (a document or a worker's script). */
  targetUrl: string;
  /** The URL of the top-level target it belongs to (itself, or the page a frame or worker is in). */
  ownerUrl: string;
}

export interface AttachedTarget {
  targetId: string;
  type: string;
  url: string;
  /** Whether it was held at its start (created after the recorder began), so none of its requests came before. */
  heldAtStart: boolean;
}

export interface NetworkRecorder {
  requests: RecordedRequest[];
  /** Every target the recorder attached to, in order, with its latest URL. */
  targets: AttachedTarget[];
  /** Targets the recorder could not watch fully (network, children or resuming), with why; one that closed meanwhile is not. */
  failures: string[];
  close(): Promise<void>;
}

interface TargetInfo {
  targetId: string;
  type: string;
  url: string;
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { message: string };
  sessionId?: string;
}

/** The minimal part of the `ws` package's WebSocket used here. */
interface Socket {
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'close', listener: () => void): void;
  send(data: string): void;
  close(): void;
}

// Playwright bundles the `ws` client and exports its bundle; Node 20 has no WebSocket of its own.
const { ws: WebSocket } = createRequire(import.meta.url)('playwright-core/lib/utilsBundle') as {
  ws: new (url: string, options: { perMessageDeflate: boolean; maxPayload: number }) => Socket;
};

/** Reads the browser's DevTools address from the profile of a Chromium started with `--remote-debugging-port=0`. */
async function devToolsUrl(profile: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const [port, path] = (await readFile(join(profile, 'DevToolsActivePort'), 'utf8')).split('\n');
      if (port && path) return `ws://127.0.0.1:${port}${path}`;
    } catch (error) {
      if (attempt >= 100) throw new Error(`${profile}/DevToolsActivePort is missing: was Chromium started with --remote-debugging-port=0?`, { cause: error });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A closed target or session: its setup fails, and that is not a hole in the recording (it made no more requests). */
const GONE = /No target with given id|Session with given id not found|Target closed|not attached|No session with given id/i;

export async function recordNetwork(profile: string): Promise<NetworkRecorder> {
  const socket = new WebSocket(await devToolsUrl(profile), { perMessageDeflate: false, maxPayload: 256 << 20 });
  await new Promise<void>((resolve, reject) => {
    socket.on('open', resolve);
    socket.on('error', reject);
  });

  const requests: RecordedRequest[] = [];
  const targets = new Map<string, AttachedTarget>();
  const failures: string[] = [];
  /** Each target's latest information (its URL once it has navigated), by target id. */
  const infos = new Map<string, TargetInfo>();
  /** Each session's target, and the top-level target that target belongs to (itself, or a frame's or worker's page). */
  const sessions = new Map<string, { targetId: string; ownerId: string }>();
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let lastId = 0;
  let closed = false;

  const send = (method: string, params: object = {}, sessionId?: string): Promise<unknown> => {
    const id = ++lastId;
    socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  };

  /**
   * A target can be attached through several sessions (the browser's, and a page's for a service worker of its
   * origin), each reporting its requests: one record per target, request id and URL (a redirect keeps the id).
   */
  const seen = new Set<string>();
  const record = (sessionId: string | undefined, requestId: string, url: string, method: string) => {
    const session = sessionId ? sessions.get(sessionId) : undefined;
    const key = `${session?.targetId ?? ''} ${requestId} ${url}`;
    if (seen.has(key)) return;
    seen.add(key);
    const info = session && infos.get(session.targetId);
    const owner = session && infos.get(session.ownerId);
    requests.push({ url, method, targetType: info?.type ?? 'browser', targetUrl: info?.url ?? '', ownerUrl: owner?.url ?? '' });
  };

  const attach = async (sessionId: string, info: TargetInfo, waiting: boolean, parent: string | undefined) => {
    infos.set(info.targetId, info);
    const ownerId = (parent && sessions.get(parent)?.ownerId) || info.targetId;
    sessions.set(sessionId, { targetId: info.targetId, ownerId });
    const target = targets.get(info.targetId);
    if (target) target.heldAtStart ||= waiting;
    else targets.set(info.targetId, { targetId: info.targetId, type: info.type, url: info.url, heldAtStart: waiting });
    const steps: [string, object][] = [
      ['Network.enable', {}],
      // Frames and workers of this target: attached to as they start, held like it.
      ['Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }],
    ];
    for (const [method, params] of steps) {
      try {
        await send(method, params, sessionId);
      } catch (error) {
        const message = (error as Error).message;
        if (!GONE.test(message)) failures.push(`${info.type} ${info.url}: ${method}: ${message}`);
      }
    }
    if (waiting) await send('Runtime.runIfWaitingForDebugger', {}, sessionId).catch((error: Error) => GONE.test(error.message) || failures.push(`${info.type} ${info.url}: resume: ${error.message}`));
  };

  socket.on('message', (data) => {
    const message = JSON.parse(data.toString('utf8')) as Message;
    if (message.id !== undefined) {
      const callback = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) callback?.reject(new Error(message.error.message));
      else callback?.resolve(message.result);
      return;
    }
    const params = message.params ?? {};
    switch (message.method) {
      case 'Target.attachedToTarget':
        void attach(params.sessionId as string, params.targetInfo as TargetInfo, params.waitingForDebugger as boolean, message.sessionId);
        break;
      case 'Target.targetCreated':
      case 'Target.targetInfoChanged': {
        const info = params.targetInfo as TargetInfo;
        infos.set(info.targetId, info);
        const target = targets.get(info.targetId);
        if (target) target.url = info.url;
        break;
      }
      case 'Network.requestWillBeSent': {
        const request = params.request as { url: string; method: string };
        record(message.sessionId, params.requestId as string, request.url, request.method);
        break;
      }
      case 'Network.webSocketCreated':
        record(message.sessionId, params.requestId as string, params.url as string, 'WEBSOCKET');
        break;
      case 'Network.webTransportCreated':
        record(message.sessionId, params.transportId as string, params.url as string, 'WEBTRANSPORT');
        break;
    }
  });
  socket.on('close', () => {
    closed = true;
    for (const callback of pending.values()) callback.reject(new Error('Target closed: the DevTools connection closed'));
    pending.clear();
  });

  // Target URLs as they change (a document attached before it navigates has none yet).
  await send('Target.setDiscoverTargets', { discover: true });
  // Every target but the browser itself and tabs (a tab's page is attached as a page).
  await send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true });

  return {
    requests,
    get targets() {
      return [...targets.values()];
    },
    failures,
    async close() {
      if (closed) return;
      const done = new Promise<void>((resolve) => socket.on('close', resolve));
      socket.close();
      await done;
    },
  };
}
