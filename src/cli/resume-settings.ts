import { UapError, type PerturbationRecord } from '../index.js';

/**
 * `--resume` continues a checkpoint only with the settings it was computed with: every one, not just the
 * model, data and ball. A different --limit or --method would otherwise be accepted, and the record would
 * then misstate n and the method; a different --overshoot would make the result neither run's.
 * The first setting that differs is named, as its flag, with both values.
 */

/** Flags whose name is not the kebab-case of the recorded option. */
const FLAGS: Record<string, string> = {
  modelId: '--model',
  maxIterDeepFool: '--max-iter-deepfool',
  deepfoolBatchSize: '--deepfool-batch',
  clip: '--no-clip',
};

function flagOf(key: string): string {
  return FLAGS[key] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** JSON with sorted keys, so {flip, minScale} and {minScale, flip} compare equal. */
function canonical(x: unknown): string {
  if (x === undefined) return 'unset';
  if (x === null || typeof x !== 'object') return JSON.stringify(x);
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  const entries = Object.entries(x as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

export interface RunSettings {
  modelId: string;
  data: string;
  norm: PerturbationRecord['norm'];
  xi: number;
  seed: number;
  method: string;
  clip: boolean;
  /** The options perturbation.json records for the method (limit included). */
  options: Record<string, unknown>;
}

/** Throws BAD_ARGUMENT naming the first setting of `want` the checkpoint's record `r` was not computed with. */
export function checkResumeSettings(r: PerturbationRecord, want: RunSettings, where: string): void {
  const had: Array<[string, unknown, unknown]> = [
    ['modelId', r.modelId, want.modelId],
    ['data', r.data.spec, want.data],
    ['norm', r.norm, want.norm],
    ['xi', r.xi, want.xi],
    ['seed', r.seed, want.seed],
    ['method', r.method, want.method],
    ['clip', r.clip, want.clip],
  ];
  const keys = new Set([...Object.keys(want.options), ...Object.keys(r.options)].filter((k) => k !== 'complete'));
  for (const k of keys) {
    // an option the record does not have (written by an older uap) cannot be compared
    if (k in r.options || want.options[k] === undefined) had.push([k, r.options[k], want.options[k]]);
  }
  for (const [key, before, now] of had) {
    if (canonical(before) !== canonical(now)) {
      const setting =
        key === 'clip'
          ? `x + v ${before ? 'clipped' : 'not clipped (--no-clip)'}, this run has it ${now ? 'clipped' : 'not clipped (--no-clip)'}`
          : `${flagOf(key)} ${canonical(before)}, this run has ${canonical(now)}`;
      throw new UapError('BAD_ARGUMENT', `the checkpoint was computed with ${setting}: resume with the same settings, or start afresh without --resume`, where);
    }
  }
}

/** Throws when the checkpoint's target class differs from this run's (known once the model's labels are). */
export function checkResumeTarget(r: PerturbationRecord, target: number | undefined, where: string): void {
  const before = r.target?.index;
  if (before !== target) {
    const show = (t: number | undefined) => (t === undefined ? 'no --target' : `--target ${t}`);
    throw new UapError('BAD_ARGUMENT', `the checkpoint was computed with ${show(before)}, this run has ${show(target)}: resume with the same settings, or start afresh without --resume`, where);
  }
}
