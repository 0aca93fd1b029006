import { describe, expect, it } from 'vitest';
import { replaceSection, sectionText } from '../../cli/benchmarks-md';

describe('BENCHMARKS.md sections', () => {
  it('puts the header under the suite heading', () => {
    expect(sectionText('\n## UNet\n\n| a |\n', 'Adapter: x')).toBe('## UNet\n\nAdapter: x\n\n| a |');
    expect(sectionText('| a |', 'Adapter: x')).toBe('Adapter: x\n\n| a |');
  });

  it('replaces only the named section and appends new ones', () => {
    let doc = '# Benchmarks\n';
    doc = replaceSection(doc, 'ops', 'ops 1');
    doc = replaceSection(doc, 'unet', 'unet 1');
    doc = replaceSection(doc, 'ops', 'ops 2');
    expect(doc).toBe('# Benchmarks\n\n<!-- bench:ops -->\nops 2\n<!-- /bench:ops -->\n\n<!-- bench:unet -->\nunet 1\n<!-- /bench:unet -->\n');
  });
});
