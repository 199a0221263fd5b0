import type { PerturbationRecord } from '../io/perturbation-record.js';

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const BACKENDS = new Set(['wasm', 'tensorflow', 'cpu']);

/**
 * The `uap compute` command line that reproduces a perturbation (Algorithm 1 or SGD), from its record: every option that
 * affects the result is spelled out (defaults included), so a later change of default does not change it.
 * `out` is the folder to write to (the run's folder by default). undefined when the record's method is not
 * one `uap compute` runs (imported, random …) and the record carries no command of its own.
 */
export function reproduceCommand(record: PerturbationRecord, out: string, width = Infinity): string | undefined {
  const o = record.options;
  for (const key of ['command', 'commandLine']) {
    if (typeof o[key] === 'string' && (o[key] as string).trim()) return (o[key] as string).trim();
  }
  const words = reproduceArgs(record, out);
  return words && wrapCommand(words.map(shellQuote), width);
}

/** `--augment`'s value for a recorded AugmentOptions ({ flip, minScale }), or undefined when it did nothing. */
function augmentSpec(a: unknown): string | undefined {
  if (!a || typeof a !== 'object') return undefined;
  const { flip, minScale, jpeg } = a as { flip?: unknown; minScale?: unknown; jpeg?: unknown };
  const q = Array.isArray(jpeg) && jpeg.length === 2 ? `jpeg:${jpeg[0]}-${jpeg[1]}` : '';
  const parts = [flip === true ? 'flip' : '', typeof minScale === 'number' && minScale < 1 ? `crop:${minScale}` : '', q].filter(Boolean);
  return parts.length ? parts.join(',') : undefined;
}

/** The words of reproduceCommand (unquoted), or undefined. */
export function reproduceArgs(record: PerturbationRecord, out: string): string[] | undefined {
  const o = record.options;
  if (Array.isArray(o.argv) && o.argv.length && o.argv.every((a) => typeof a === 'string')) return o.argv as string[];
  if (record.method !== 'deepfool' && record.method !== 'sgd') return undefined;
  const args: string[] = ['uap'];
  if (BACKENDS.has(record.backend)) args.push('--backend', record.backend);
  args.push('compute', '--model', record.modelId, '--data', record.data.spec);
  if (typeof o.limit === 'number') args.push('--limit', String(o.limit));
  args.push('--norm', String(record.norm), '--xi', String(record.xi), '--method', record.method);
  if (record.target) args.push('--target', String(record.target.index));
  const flag = (name: string, key: string) => {
    const v = o[key];
    if (typeof v === 'number' || (typeof v === 'string' && v !== '')) args.push(name, String(v));
  };
  flag('--delta', 'delta');
  flag('--max-passes', 'maxPasses');
  flag('--step', 'step');
  flag('--candidates', 'candidates');
  flag('--overshoot', 'overshoot');
  flag('--max-iter-deepfool', 'maxIterDeepFool');
  flag('--deepfool-batch', 'deepfoolBatchSize');
  if (record.method === 'sgd') {
    flag('--batch-size', 'batchSize');
    flag('--step-size', 'stepSize');
    flag('--loss', 'loss');
    flag('--optimizer', 'optimizer');
    const aug = augmentSpec(o.augment);
    if (aug) args.push('--augment', aug);
  }
  args.push('--seed', String(record.seed));
  if (!record.clip) args.push('--no-clip');
  if (o.keepBest === true) args.push('--keep-best');
  args.push('--out', out);
  return args;
}

/** Shell words (already quoted) over lines of at most about `width` characters, `\\` continued, breaking only before an option. */
export function wrapCommand(words: readonly string[], width = 88): string {
  const lines: string[] = [];
  let line = '';
  for (let i = 0; i < words.length; i++) {
    // Keep an option with its value.
    let unit = words[i]!;
    if (unit.startsWith('--') && i + 1 < words.length && !words[i + 1]!.startsWith('--')) unit += ' ' + words[++i]!;
    if (line && line.length + 1 + unit.length > width && unit.startsWith('--')) {
      lines.push(line + ' \\');
      line = '  ' + unit;
    } else {
      line = line ? `${line} ${unit}` : unit;
    }
  }
  lines.push(line);
  return lines.join('\n');
}
