import { describe, expect, it } from 'vitest';
import { preprocess } from '../../engine/gpu/wgsl';

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

describe('wgsl preprocess', () => {
  const src = ['a', '#if X', 'x', '#elif Y', 'y', '#else', 'z', '#endif', 'b'].join('\n');

  it('keeps the first true branch only', () => {
    expect(lines(preprocess(src, { X: true, Y: true }))).toEqual(['a', 'x', 'b']);
    expect(lines(preprocess(src, { Y: true }))).toEqual(['a', 'y', 'b']);
    expect(lines(preprocess(src, {}))).toEqual(['a', 'z', 'b']);
  });

  it('negates with ! and nests', () => {
    const nested = ['#if !X', 'not-x', '#if Y', 'y', '#endif', '#else', 'x', '#if Y', 'never', '#endif', '#endif'].join('\n');
    expect(lines(preprocess(nested, { Y: true }))).toEqual(['not-x', 'y']);
    expect(lines(preprocess(nested, { X: true, Y: false }))).toEqual(['x']);
  });

  it('does not take a branch inside an inactive parent', () => {
    const s = ['#if X', '#if Y', 'y', '#else', 'not-y', '#endif', '#endif'].join('\n');
    expect(lines(preprocess(s, { Y: false }))).toEqual([]);
  });

  it('rejects malformed directives', () => {
    expect(() => preprocess('#if X', {})).toThrow(/unterminated/);
    expect(() => preprocess('#endif', {})).toThrow(/without #if/);
    expect(() => preprocess('#if x+y\n#endif', {})).toThrow(/bad condition/);
  });
});
