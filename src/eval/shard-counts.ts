import { UapError } from '../errors.js';

/**
 * Evaluation split into shards and added back up. Browser-safe, no tensors.
 *
 * Every number `uap eval`, `transfer` and `labels` report is a ratio of integer counts (fooled / n,
 * correct / labelled …). A shard of the data returns those counts; the sums over all shards are the counts of
 * the whole set, so the ratios are exactly the ones a single machine computes, whatever ran where. What makes
 * that exact, and not merely close:
 *  - shards are contiguous ranges [start, end) that begin on a multiple of the forward-pass batch size, so each
 *    forward pass sees the same images as locally (the last shard ends where the data end);
 *  - results are kept by shard number and combined in shard order, each shard exactly once: a shard that a
 *    retried job computed twice is one entry, and a missing shard is an error, never a silent gap.
 */

export interface ShardRange {
  shard: number;
  start: number;
  end: number;
}

/** Contiguous shards of about `shardSize` images, each starting on a multiple of `batchSize`. */
export function shardRanges(n: number, shardSize: number, batchSize: number): ShardRange[] {
  if (!Number.isInteger(n) || n < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${n}`, 'n');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${batchSize}`, 'batchSize');
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${shardSize}`, 'shardSize');
  const size = Math.ceil(shardSize / batchSize) * batchSize;
  const out: ShardRange[] = [];
  for (let start = 0, shard = 0; start < n; start += size, shard++) out.push({ shard, start, end: Math.min(n, start + size) });
  return out;
}

/** The counts of one perturbation on one shard. */
export interface PerturbedCounts {
  /** Top-1 on clip(x + v) differs from top-1 on x. */
  fooled: number;
  /** Labelled images whose top-1 on clip(x + v) is right. */
  correctPerturbed: number;
  /** Images sent to the target class (targeted evaluations; 0 otherwise). */
  targetHits: number;
}

/** The counts of one shard: clean ones, and one entry per perturbation evaluated on it. */
export interface ShardCounts {
  n: number;
  /** Images with a known label (≥ 0). */
  labelled: number;
  correctClean: number;
  perturbed: PerturbedCounts[];
}

/** Counts of one shard from its predictions (as evaluatePerturbation counts them). */
export function countShard(
  cleanPred: Int32Array,
  labels: Int32Array | null,
  pertPreds: readonly Int32Array[],
  target?: number,
): ShardCounts {
  const n = cleanPred.length;
  let labelled = 0;
  let correctClean = 0;
  for (let i = 0; i < n; i++) {
    const y = labels ? labels[i]! : -1;
    if (y < 0) continue;
    labelled++;
    if (cleanPred[i] === y) correctClean++;
  }
  const perturbed = pertPreds.map((pert) => {
    if (pert.length !== n) throw new UapError('BAD_ARGUMENT', `${pert.length} perturbed predictions for ${n} images`, 'predictions');
    let fooled = 0;
    let correctPerturbed = 0;
    let targetHits = 0;
    for (let i = 0; i < n; i++) {
      if (cleanPred[i] !== pert[i]) fooled++;
      const y = labels ? labels[i]! : -1;
      if (y >= 0 && pert[i] === y) correctPerturbed++;
      if (target !== undefined && pert[i] === target) targetHits++;
    }
    return { fooled, correctPerturbed, targetHits };
  });
  return { n, labelled, correctClean, perturbed };
}

/**
 * Shard results in shard order, each exactly once. `results` is keyed by shard number; throws when a shard of
 * 0 … shards−1 is missing or an unknown one is present.
 */
export function inShardOrder<T>(results: ReadonlyMap<number, T>, shards: number): T[] {
  const out: T[] = [];
  for (let s = 0; s < shards; s++) {
    if (!results.has(s)) throw new UapError('BAD_INPUT', `no result for shard ${s} of ${shards}`, 'shards');
    out.push(results.get(s)!);
  }
  if (results.size !== shards) throw new UapError('BAD_INPUT', `${results.size} results for ${shards} shards`, 'shards');
  return out;
}

/** Adds up shard counts (given in shard order). */
export function addCounts(shards: readonly ShardCounts[]): ShardCounts {
  if (shards.length === 0) throw new UapError('BAD_ARGUMENT', 'no shards', 'shards');
  const rows = shards[0]!.perturbed.length;
  const total: ShardCounts = {
    n: 0,
    labelled: 0,
    correctClean: 0,
    perturbed: Array.from({ length: rows }, () => ({ fooled: 0, correctPerturbed: 0, targetHits: 0 })),
  };
  for (const s of shards) {
    if (s.perturbed.length !== rows) throw new UapError('BAD_INPUT', `a shard holds ${s.perturbed.length} perturbations, not ${rows}`, 'shards');
    total.n += s.n;
    total.labelled += s.labelled;
    total.correctClean += s.correctClean;
    s.perturbed.forEach((p, r) => {
      const t = total.perturbed[r]!;
      t.fooled += p.fooled;
      t.correctPerturbed += p.correctPerturbed;
      t.targetHits += p.targetHits;
    });
  }
  return total;
}

/** The rates evaluatePerturbation reports, from counts (row r of the perturbations). */
export function ratesOf(c: ShardCounts, row = 0): {
  foolingRate: number;
  /** 1 − accuracyPerturbed over the labelled images; NaN when none is labelled. */
  errorRate: number;
  accuracyClean: number;
  accuracyPerturbed: number;
  targetSuccess: number;
  n: number;
  labelled: number;
} {
  const p = c.perturbed[row];
  if (!p) throw new UapError('BAD_ARGUMENT', `no perturbation ${row}`, 'row');
  return {
    foolingRate: p.fooled / c.n,
    errorRate: c.labelled > 0 ? (c.labelled - p.correctPerturbed) / c.labelled : Number.NaN,
    accuracyClean: c.labelled > 0 ? c.correctClean / c.labelled : Number.NaN,
    accuracyPerturbed: c.labelled > 0 ? p.correctPerturbed / c.labelled : Number.NaN,
    targetSuccess: p.targetHits / c.n,
    n: c.n,
    labelled: c.labelled,
  };
}

/** Concatenates per-shard arrays (given in shard order) into one. */
export function concatShards(parts: readonly Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Σ of shard gradients in shard order, in float32 like a local sum (Math.fround after every addition), so the
 * result does not depend on which worker finished first.
 */
export function sumGradients(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 0) throw new UapError('BAD_ARGUMENT', 'no gradients', 'gradients');
  const d = parts[0]!.length;
  const out = new Float32Array(parts[0]!);
  for (let k = 1; k < parts.length; k++) {
    const p = parts[k]!;
    if (p.length !== d) throw new UapError('BAD_INPUT', `a shard gradient has ${p.length} values, not ${d}`, 'gradients');
    for (let i = 0; i < d; i++) out[i] = out[i]! + p[i]!;
  }
  return out;
}
