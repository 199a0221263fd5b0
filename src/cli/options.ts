import { UapError } from '../errors.js';
import type { LpNorm } from '../attacks/project.js';
import type { AugmentOptions } from '../data/augment.js';

/** Parsers for CLI values: each names the flag it rejects. */

export function num(flag: string, value: string): number {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new UapError('BAD_ARGUMENT', `not a number: "${value}"`, flag);
  return x;
}

export function positive(flag: string, value: string): number {
  const x = num(flag, value);
  if (!(x > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${value}`, flag);
  return x;
}

export function int(flag: string, value: string, min = 0): number {
  const x = num(flag, value);
  if (!Number.isInteger(x) || x < min) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ ${min}, got ${value}`, flag);
  return x;
}

export function openUnit(flag: string, value: string): number {
  const x = num(flag, value);
  if (!(x > 0 && x < 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1), got ${value}`, flag);
  return x;
}

export function norm(flag: string, value: string): LpNorm {
  if (value === 'inf' || value === 'Infinity' || value === 'linf') return 'inf';
  if (value === '2' || value === 'l2') return 2;
  if (value === '1' || value === 'l1') return 1;
  throw new UapError('BAD_ARGUMENT', `must be inf, 2 or 1, got "${value}"`, flag);
}

export function fmtPct(x: number): string {
  return Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}

/** The flags of Algorithm 1 (paper defaults), shared by `compute` and `sweep`. */
export interface Algorithm1Flags {
  delta: string;
  maxPasses: string;
  step?: string;
  candidates: string;
  overshoot: string;
  maxIterDeepfool: string;
  deepfoolBatch: string;
  keepBest?: boolean;
}

export function addAlgorithm1Options<T extends { option: (flags: string, description: string, value?: string) => T }>(cmd: T): T {
  return cmd
    .option('--delta <x>', 'stop when the fooling rate on X reaches 1 − δ', '0.2')
    .option('--max-passes <n>', 'at most this many passes over X (sgd: epochs)', '10')
    .option('--step <p>', "DeepFool step norm: 2 (the paper's) or inf (default: matches --norm)")
    .option('--candidates <n>', 'DeepFool: classes considered', '10')
    .option('--overshoot <x>', 'DeepFool: overshoot', '0.02')
    .option('--max-iter-deepfool <n>', 'DeepFool: iterations per image', '10')
    .option('--deepfool-batch <n>', 'images per DeepFool call (1 = the paper’s exact sequential order)', '1')
    .option('--keep-best', 'return the pass with the highest fooling rate on X, not the last');
}

export function parseAlgorithm1Options(f: Algorithm1Flags, p: LpNorm) {
  const step = f.step === undefined ? undefined : norm('--step', f.step);
  if (step === 1) throw new UapError('BAD_ARGUMENT', 'must be 2 or inf', '--step');
  return {
    delta: openUnit('--delta', f.delta),
    maxPasses: int('--max-passes', f.maxPasses, 1),
    step: (step ?? (p === 'inf' ? 'inf' : 2)) as 2 | 'inf',
    candidates: int('--candidates', f.candidates, 2),
    overshoot: num('--overshoot', f.overshoot),
    maxIterDeepFool: int('--max-iter-deepfool', f.maxIterDeepfool, 1),
    deepfoolBatchSize: int('--deepfool-batch', f.deepfoolBatch, 1),
    keepBest: Boolean(f.keepBest),
  };
}

/** `--augment flip,crop` or `crop:0.7` (smallest crop side; `crop` alone means 0.8). */
export function augment(flag: string, value: string): AugmentOptions {
  const out: AugmentOptions = {};
  for (const part of value.split(',').map((p) => p.trim())) {
    const [kind, arg] = part.split(':');
    if (kind === 'flip' && arg === undefined) out.flip = true;
    else if (kind === 'crop') {
      const s = arg === undefined ? 0.8 : num(flag, arg);
      if (!(s > 0 && s <= 1)) throw new UapError('BAD_ARGUMENT', `the crop scale must be in (0, 1], got ${arg}`, flag);
      out.minScale = s;
    } else if (kind !== 'none' || arg !== undefined) {
      throw new UapError('BAD_ARGUMENT', `expected a comma-separated list of flip, crop or crop:SCALE (or none), got "${part}"`, flag);
    }
  }
  return out;
}
