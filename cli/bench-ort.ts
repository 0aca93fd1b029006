/**
 * `npm run bench -- ort`: bench-unet on our engine and on onnxruntime-web (WebGPU execution provider, fp32 ONNX
 * export of the same UNet) in one headless Debian Chromium page, so both run on the same WebGPU adapter. After one
 * warm-up each (pipeline compilation), the engines alternate, the first one swapping every round so neither always
 * runs on a machine the other just warmed or loaded; each evaluation goes from CPU inputs to the CPU output. Both
 * outputs are checked against the PyTorch reference, and ORT's compute dispatches are counted to prove it ran on
 * WebGPU (a wasm fallback dispatches nothing).
 *
 * The page (cli/bench-page) is bundled with Vite and served by a local node:http server together with the model
 * files and onnxruntime-web's dist files (its .mjs loader and .wasm).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import type { GpuContext } from '../engine/gpu/context';
import type { StorageFormat } from '../engine/gpu/tensor';
import type { TuningTable } from '../engine/tune/table';
import type { BenchPage, BenchSetup, EvaluationResult } from './bench-page/main';
import { median } from './bench-unet-case';
import { BENCH_UNET } from './bench-unet';
import { CHROMIUM, WEBGPU_ARGS } from './chromium';

const ORT_DIST = resolve('node_modules/onnxruntime-web/dist');
/** ORT's WebGPU build (its WebGPU execution provider compiled into the asyncify wasm). */
export const ORT_BUNDLE = 'ort.webgpu.min.mjs';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** Bundles the bench page into a temporary folder; returns it. */
async function buildPage(): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'sd-bench-page-'));
  await build({
    configFile: false,
    root: resolve('cli/bench-page'),
    publicDir: false,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: false, target: 'esnext', minify: false, reportCompressedSize: false },
  });
  return outDir;
}

/**
 * Serves the page at /, the bench model under /bench/ and ORT's dist under /ort/. Cross-origin isolated (COOP +
 * COEP), so ORT's threaded wasm gets SharedArrayBuffer, as on a site that deploys it properly.
 */
function serve(pageDir: string): Promise<Server> {
  const roots: [string, string][] = [
    ['/bench/', BENCH_UNET],
    ['/ort/', ORT_DIST],
    ['/', pageDir],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const [prefix, root] = roots.find(([p]) => path.startsWith(p))!;
    const file = normalize(join(root, path.slice(prefix.length) || 'index.html'));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

export interface SideBySide {
  setup: BenchSetup;
  ours: EvaluationResult[];
  ort: EvaluationResult[];
}

/** Runs `repeat` alternating rounds after a warm-up of each engine; the figures of every evaluation. */
export async function sideBySide(options: { repeat: number; weights?: StorageFormat; tuning?: TuningTable; log?: (line: string) => void }): Promise<SideBySide> {
  const pageDir = await buildPage();
  const server = await serve(pageDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...WEBGPU_ARGS, '--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') options.log?.(`[page ${m.type()}] ${m.text()}`);
    });
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'bench' in globalThis);
    if (pageErrors.length) throw new Error(`The bench page failed: ${pageErrors.join('; ')}`);
    const call = <K extends keyof BenchPage>(name: K, ...args: Parameters<BenchPage[K]>) =>
      page.evaluate(
        ([n, a]) => (globalThis as unknown as { bench: Record<string, (...x: unknown[]) => unknown> }).bench[n]!(...a),
        [name, args] as const,
      ) as ReturnType<BenchPage[K]>;

    const setup = await call('init', { weights: options.weights ?? 'f32', ortBundle: ORT_BUNDLE, ...(options.tuning ? { tuning: options.tuning } : {}) });
    options.log?.(`warm-up: ours ${(await call('ours')).ms.toFixed(0)} ms, ORT ${(await call('ort')).ms.toFixed(0)} ms`);
    const ours: EvaluationResult[] = [];
    const ort: EvaluationResult[] = [];
    for (let i = 0; i < options.repeat; i++) {
      if (i % 2 === 0) {
        ours.push(await call('ours'));
        ort.push(await call('ort'));
      } else {
        ort.push(await call('ort'));
        ours.push(await call('ours'));
      }
      options.log?.(`round ${i + 1}: ours ${ours.at(-1)!.ms.toFixed(0)} ms, ORT ${ort.at(-1)!.ms.toFixed(0)} ms`);
    }
    return { setup, ours, ort };
  } finally {
    await browser.close();
    await new Promise((ok) => server.close(ok));
    await rm(pageDir, { recursive: true, force: true });
  }
}

/** ORT counts as having run on WebGPU when every evaluation dispatched compute work. */
export function ortOnWebGpu(results: readonly EvaluationResult[]): boolean {
  return results.length > 0 && results.every((r) => r.dispatches > 0);
}

export async function runOrtBench(_ctx: GpuContext, options: { repeat: number; weights?: StorageFormat; tuning?: TuningTable }): Promise<{ adapter: string }> {
  const run = await sideBySide({ ...options, log: (line) => console.error(line) });
  const { setup } = run;
  if (!ortOnWebGpu(run.ort)) throw new Error('onnxruntime-web dispatched no WebGPU compute work: it fell back to wasm, so there is nothing to compare.');
  const oursMs = median(run.ours.map((r) => r.ms));
  const ortMs = median(run.ort.map((r) => r.ms));
  const worst = (rs: EvaluationResult[]) => rs.reduce((a, r) => (r.relative > a.relative ? r : a));
  console.log(`\n## bench-unet side by side with onnxruntime-web, headless Chromium (${run.ours.length} alternating rounds)\n`);
  console.log('| engine | median (ms) | min (ms) | dispatches / evaluation | max abs error | error / max ref | load (ms) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const row = (name: string, rs: EvaluationResult[], load: number) => {
    const w = worst(rs);
    console.log(`| ${name} | ${median(rs.map((r) => r.ms)).toFixed(1)} | ${Math.min(...rs.map((r) => r.ms)).toFixed(1)} | ${rs[0]!.dispatches} | ${w.maxAbs.toExponential(2)} | ${w.relative.toExponential(2)} | ${load.toFixed(0)} |`);
  };
  row(`ours (${setup.ours.weights} weights)`, run.ours, setup.ours.loadMs);
  row(`onnxruntime-web ${setup.ort.version} (${setup.ort.executionProviders.join(', ')}, ${setup.ort.bundle}, fp32 ONNX)`, run.ort, setup.ort.loadMs);
  console.log(`\n**ours / ORT = ${(oursMs / ortMs).toFixed(3)}** (medians ${oursMs.toFixed(1)} ms / ${ortMs.toFixed(1)} ms; target ≤ 0.5).`);
  console.log(`Our adapter: ${setup.ours.adapter}; ORT's device: ${setup.ort.adapter}. Errors are the worst over all rounds.`);
  console.log(`Our configuration: ${options.tuning ? `tuning table of ${options.tuning.updated.slice(0, 10)} (measured by Dawn in Node on this adapter)` : 'default op configurations (no tuning table)'}.`);
  return { adapter: `Chromium WebGPU, ${setup.ours.adapter}` };
}
