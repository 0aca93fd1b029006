/**
 * Security properties of the built extension (.output/chrome-mv3, made by `wxt build` before the end-to-end tests):
 * - Manifest V3 with the default content security policy (`script-src 'self'`: no remote code, no `eval`), nothing
 *   exposed to web pages (no externally_connectable, no web-accessible resources), and exactly the permissions the
 *   README justifies, each of them used by the code;
 * - the built JavaScript calls no `eval`, `new Function` or string timers, loads no script from elsewhere, and names no
 *   URL besides the model hosts, XML namespaces and the Git LFS pointer format's identifier;
 * - the extension's own source never turns text into markup (no innerHTML and the like), so text from pages stays text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXTENSION } from '../../cli/chromium';

interface Manifest {
  manifest_version: number;
  permissions?: string[];
  host_permissions?: string[];
  content_security_policy?: unknown;
  externally_connectable?: unknown;
  web_accessible_resources?: unknown;
  content_scripts?: { matches: string[]; js?: string[] }[];
}

const manifest = JSON.parse(readFileSync(join(EXTENSION, 'manifest.json'), 'utf8')) as Manifest;

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

const builtJs = files(EXTENSION, /\.js$/).map((path) => ({ path: relative(EXTENSION, path), code: readFileSync(path, 'utf8') }));

/** The permissions named in the first column of the README's permissions table. */
function justifiedPermissions(): string[] {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.split(/^### Permissions$/m)[1]?.split(/^#/m)[0] ?? '';
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

/** What the code must call for each permission to be needed at all. */
const PERMISSION_USES: Record<string, RegExp> = {
  offscreen: /offscreen\.createDocument/,
  contextMenus: /contextMenus\.create/,
  notifications: /notifications\.create/,
  storage: /storage\.(local|session|sync)/,
  // IndexedDB beyond the default quota: the model store's database.
  unlimitedStorage: /indexedDB|IDBFactory/,
};

describe('security of the built extension', () => {
  it('is Manifest V3 with the default CSP and nothing exposed to web pages', () => {
    expect(manifest.manifest_version).toBe(3);
    // Without a content_security_policy key, MV3 pages run under "script-src 'self' 'wasm-unsafe-eval'; object-src
    // 'self'": no remote scripts and no eval. A key, if one is ever added, must not loosen that.
    const csp = JSON.stringify(manifest.content_security_policy ?? '');
    expect(csp).not.toMatch(/unsafe-eval'|unsafe-inline|https?:|\*/);
    expect(manifest.externally_connectable).toBeUndefined();
    expect(manifest.web_accessible_resources).toBeUndefined();
  });

  it('asks for exactly the permissions the README justifies, and uses each one', () => {
    const asked = [...(manifest.permissions ?? []), ...(manifest.host_permissions ?? [])].sort();
    expect(asked).toEqual(justifiedPermissions().sort());
    for (const host of manifest.host_permissions ?? []) expect(host).toMatch(/^https:\/\/(huggingface\.co|\*\.hf\.co)\/\*$/);
    const code = builtJs.map((f) => f.code).join('\n');
    for (const permission of manifest.permissions ?? []) {
      expect(PERMISSION_USES[permission], `${permission}: no known use`).toBeDefined();
      expect(code, `${permission} is asked for but never used`).toMatch(PERMISSION_USES[permission]!);
    }
  });

  it('runs no eval, new Function or string timers, and loads scripts only from the extension', () => {
    expect(builtJs.length).toBeGreaterThan(3);
    for (const { path, code } of builtJs) {
      expect(code, path).not.toMatch(/\beval\s*\(|\bnew\s+Function\s*\(|\bFunction\s*\(\s*["'`]|set(Timeout|Interval)\s*\(\s*["'`]|importScripts\s*\(/);
      expect(code, path).not.toMatch(/import\s*\(\s*["'`]https?:/);
    }
    for (const html of files(EXTENSION, /\.html$/)) {
      for (const [tag] of readFileSync(html, 'utf8').matchAll(/<script[^>]*>/g)) expect(tag, html).toMatch(/src="\/[^/]/);
    }
  });

  it('names no URL besides the model hosts and XML namespaces', () => {
    // git-lfs.github.com/spec/: the first line of a Git LFS pointer file, which the model store parses (never fetched).
    const allowed = /^https?:\/\/(www\.w3\.org\/|huggingface\.co(\/|$)|[a-z0-9-]+\.hf\.co(\/|$)|git-lfs\.github\.com\/spec\/$)/;
    for (const { path, code } of builtJs) {
      for (const [url] of code.matchAll(/https?:\/\/[^\s"'`)\\]*/g)) expect(url, path).toMatch(allowed);
    }
  });

  it('never turns text into markup in its own source', () => {
    const sources = [...files('entrypoints', /\.tsx?$/), ...files('lib', /\.tsx?$/)];
    expect(sources.length).toBeGreaterThan(10);
    for (const path of sources) {
      expect(readFileSync(path, 'utf8'), path).not.toMatch(/dangerouslySetInnerHTML|\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|createContextualFragment/);
    }
  });
});
