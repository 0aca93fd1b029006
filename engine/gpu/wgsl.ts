/**
 * A minimal WGSL preprocessor: `#if NAME`, `#elif NAME`, `#else`, `#endif` on boolean defines
 * (each `NAME` may be negated with `!`). Variants that change types or loads (weight storage formats,
 * epilogues) are selected this way; numeric parameters (tile sizes) are WGSL `override` constants instead,
 * so they need no text substitution.
 */
export function preprocess(source: string, defines: Readonly<Record<string, boolean>>): string {
  const out: string[] = [];
  // Each frame: is this branch active, has any branch of this #if been taken, was the parent active.
  const stack: { active: boolean; taken: boolean; parent: boolean }[] = [];
  const isActive = () => (stack.length === 0 ? true : stack[stack.length - 1]!.active);
  const evaluate = (expr: string, lineNo: number): boolean => {
    const name = expr.trim();
    const negated = name.startsWith('!');
    const key = negated ? name.slice(1).trim() : name;
    if (!/^[A-Z0-9_]+$/.test(key)) throw new Error(`wgsl preprocess: bad condition "${expr}" at line ${lineNo}`);
    const value = defines[key] === true;
    return negated ? !value : value;
  };
  source.split('\n').forEach((line, i) => {
    const m = /^\s*#(if|elif|else|endif)\b(.*)$/.exec(line);
    if (!m) {
      if (isActive()) out.push(line);
      return;
    }
    const [, directive, rest] = m;
    if (directive === 'if') {
      const parent = isActive();
      const cond = parent && evaluate(rest!, i + 1);
      stack.push({ active: cond, taken: cond, parent });
    } else {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`wgsl preprocess: #${directive} without #if at line ${i + 1}`);
      if (directive === 'endif') stack.pop();
      else if (directive === 'else') {
        top.active = top.parent && !top.taken;
        top.taken = true;
      } else {
        const cond = top.parent && !top.taken && evaluate(rest!, i + 1);
        top.active = cond;
        top.taken ||= cond;
      }
    }
  });
  if (stack.length) throw new Error('wgsl preprocess: unterminated #if');
  return out.join('\n');
}
