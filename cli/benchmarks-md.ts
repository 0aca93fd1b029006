/**
 * BENCHMARKS.md: one section per suite between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers, so a run
 * of some suites replaces their sections and leaves the others (measured on other days or adapters) as they are.
 * Sections keep the order in which suites first wrote them.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export const BENCHMARKS_FILE = resolve('BENCHMARKS.md');

const PREAMBLE = `# Benchmarks

Written by \`npm run bench\` (cli/bench.ts): each section is replaced when its suite runs again, and names the
adapter, the date and the command that produced it. Timings on SwiftShader (WebGPU on the CPU) measure a shared
machine's CPU, not a GPU: compare figures only within one section.
`;

/** Puts `header` (adapter, date, command) under the section's first heading, or first when it has none. */
export function sectionText(body: string, header: string): string {
  const lines = body.replace(/^\n+/, '').split('\n');
  const headed = lines[0]?.startsWith('#') ? [lines[0], '', header, ...lines.slice(1)] : [header, '', ...lines];
  return headed.join('\n').replace(/\n+$/, '');
}

/** Replaces (or appends) the section of suite `name` in `doc`. */
export function replaceSection(doc: string, name: string, content: string): string {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const block = `${open}\n${content}\n${close}`;
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  if (start >= 0 && end > start) return doc.slice(0, start) + block + doc.slice(end + close.length);
  return `${doc.replace(/\n*$/, '\n\n')}${block}\n`;
}

export async function updateSection(name: string, body: string, header: string, file = BENCHMARKS_FILE): Promise<void> {
  const doc = existsSync(file) ? await readFile(file, 'utf8') : PREAMBLE;
  await writeFile(file, replaceSection(doc, name, sectionText(body, header)));
}
