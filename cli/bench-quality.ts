/**
 * Quality of quantised weights: every txt2img case of the reference fixtures (`../shared/fixtures/tiny-sd1`) run
 * from the reference's starting latents with f32, f16, int8 and int4 weights; PSNR of each image against the
 * reference image (both in [0, 1]; PSNR = 10·log10(1 / MSE)).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GpuContext } from '../engine/gpu/context';
import { STORAGE_FORMATS } from '../engine/gpu/tensor';
import { parseSchedulerConfig } from '../engine/models/config';
import { StableDiffusion } from '../engine/pipeline';
import type { SchedulerName } from '../engine/schedulers';
import { ModelFolder } from './model-folder';

const TINY = resolve('../shared/fixtures/tiny-sd1');

interface Case {
  prompt: string;
  negative_prompt?: string;
  scheduler: string;
  scheduler_config: Record<string, unknown>;
  steps: unknown[];
  guidance: number;
  width: number;
  height: number;
  init_latents: { file: string };
  image: { file: string };
}

function floats(file: string): Float32Array {
  const bytes = readFileSync(join(TINY, file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function psnr(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10(a.length / se);
}

export async function runQualityBench(ctx: GpuContext, options: { filter?: string }): Promise<void> {
  const cases = (JSON.parse(readFileSync(join(TINY, 'cases.json'), 'utf8')) as { pipeline: Case[] }).pipeline;
  const folder = new ModelFolder(join(TINY, 'model'));
  const formats = STORAGE_FORMATS.filter((f) => !options.filter || f === options.filter);
  console.log('\n## Image PSNR against the reference pipeline (tiny-sd1 fixtures)\n');
  console.log(`| case | ${formats.join(' | ')} |`);
  console.log(`| --- |${formats.map(() => ' ---: |').join('')}`);
  try {
    for (const [i, c] of cases.entries()) {
      const cells: string[] = [];
      for (const format of formats) {
        const sd = await StableDiffusion.open(ctx, folder, { format, memory: 'low' });
        const result = await sd.generate({
          prompt: c.prompt,
          ...(c.negative_prompt !== undefined ? { negativePrompt: c.negative_prompt } : {}),
          scheduler: c.scheduler as SchedulerName,
          schedulerConfig: parseSchedulerConfig(c.scheduler_config),
          steps: c.scheduler === 'pndm' ? c.steps.length - 1 : c.steps.length,
          guidance: c.guidance,
          width: c.width,
          height: c.height,
          seed: 0,
          initLatents: floats(c.init_latents.file),
        });
        sd.unload();
        cells.push(`${psnr(result.image, floats(c.image.file)).toFixed(1)} dB`);
      }
      console.log(`| ${i}: ${c.scheduler}, ${c.steps.length} evaluations, guidance ${c.guidance} | ${cells.join(' | ')} |`);
    }
  } finally {
    await folder.close();
  }
}
