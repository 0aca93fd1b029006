/**
 * Chromium's own record of its network use: a browser started with `--log-net-log=FILE` writes every URL request its
 * network service starts (whoever asked: a page, a worker, an extension, or the browser itself) and every host name
 * it resolves, and finishes the file when it closes. Unlike the DevTools recorder (network-recorder.ts), this sees
 * the requests no page or worker makes: the browser's own services, and anything the browser fetches on an
 * extension's behalf.
 *
 * Requests carry their initiator: the origin of the context that asked, or none for the browser's own. The browser's
 * own requests of a session with the extension are compared with those of the same browser, same flags, without it
 * (`browserOwnTraffic`), which shows which of them the browser makes anyway.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BROWSER_FLAGS, CHROMIUM } from '../../cli/chromium';

export interface NetLogRequest {
  url: string;
  method: string;
  /** The origin of the context that made it; null for the browser's own requests. */
  initiator: string | null;
}

export interface NetLog {
  requests: NetLogRequest[];
  /** Every host name the browser resolved (for any protocol). */
  resolvedHosts: string[];
}

interface RawNetLog {
  constants: { logEventTypes: Record<string, number> };
  events: { type: number; params?: { url?: string; method?: string; initiator?: string; host?: string } }[];
}

/** The requests and host lookups in a net log file that the browser finished (closed). */
export async function readNetLog(file: string): Promise<NetLog> {
  const log = JSON.parse(await readFile(file, 'utf8')) as RawNetLog;
  const type = (name: string) => {
    const id = log.constants.logEventTypes[name];
    if (id === undefined) throw new Error(`${file}: this Chromium's net log has no ${name} events`);
    return id;
  };
  const [startJob, resolve] = [type('URL_REQUEST_START_JOB'), type('HOST_RESOLVER_MANAGER_REQUEST')];
  const requests: NetLogRequest[] = [];
  const hosts = new Set<string>();
  for (const { type: t, params } of log.events) {
    if (t === startJob && params?.url) {
      // The browser's own requests have no initiator ("not an origin").
      const initiator = params.initiator && params.initiator !== 'not an origin' ? params.initiator : null;
      requests.push({ url: params.url, method: params.method ?? 'GET', initiator });
    } else if (t === resolve && params?.host) {
      // "https://host" (scheme and host) in current Chromium, a bare host name in older ones.
      hosts.add(params.host.includes('://') ? new URL(params.host).hostname : params.host.replace(/:\d+$/, ''));
    }
  }
  return { requests, resolvedHosts: [...hosts] };
}

/**
 * The net log of Debian's Chromium with the tests' flags and no extension, left on a blank page for `ms`: the
 * requests the browser makes by itself.
 */
export async function browserOwnTraffic(ms: number): Promise<NetLog> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-netlog-'));
  try {
    const file = join(dir, 'net-log.json');
    const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [...BROWSER_FLAGS, `--log-net-log=${file}`],
    });
    try {
      await (await context.newPage()).goto('about:blank');
      await new Promise((resolve) => setTimeout(resolve, ms));
    } finally {
      await context.close();
    }
    return await readNetLog(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
