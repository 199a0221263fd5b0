import * as tf from '@tensorflow/tfjs';
import { range, toSource, type ImageSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { predict, predictBatch } from '../models/predict.js';
import { createRng, permutation } from '../util/rng.js';
import { stopRequested } from './abort.js';
import { accuracyOn, criterionFor, errorRate, successRate, type Criterion } from './criteria.js';
import { checkNorm, checkXi, lpNorm, projectLp, type LpNorm } from './project.js';

/**
 * The loop that Algorithm 1 (universal.ts) and the SGD attack (sgd.ts) share: passes over X in a fresh seeded
 * order, each ending with the fooling rate on X, a history record and a checkpoint hook, until the goal 1 − δ
 * or the last pass. An attack supplies only what one pass does to v.
 *
 *   v ← initial v (resume) or 0;  replay the orders (and the attack's own draws) of the passes already done
 *   for pass = done + 1 … maxPasses:
 *     w ← attack.run(pass, order, v)           (null when stopped: the partial pass is dropped, v stays)
 *     measure w on X; v ← w; history += record; onPassEnd(v, history)   (the checkpoint)
 *     stop when the score (fooling rate, or target success when targeted) reaches 1 − δ
 *
 * Interrupts. `signal` is checked (with a turn of the event loop, see abort.ts) between the attack's steps and
 * between the evaluation's batches. An abort anywhere inside a pass discards that pass: the result holds the v
 * of the last completed pass, the one onPassEnd last saw, so a run resumed from that checkpoint continues
 * exactly as an uninterrupted run (same orders, same draws).
 */

export interface PassRecord {
  /** 1-based pass number. */
  pass: number;
  /** Fooling rate on X at the end of the pass (top-1 on clip(x + v) differs from top-1 on x). */
  foolingRate: number;
  /**
   * Error rate on X at the end of the pass: share of X's labelled images whose top-1 on clip(x + v) is not their
   * true label (1 − perturbed accuracy). Present only when `labels` were given and some are known.
   */
  errorRate?: number;
  /** Algorithm 1: DeepFool runs (images not fooled when visited). Absent for SGD. */
  deepfoolCalls?: number;
  /** Algorithm 1: DeepFool steps that converged and moved v; SGD: optimiser steps. */
  updates: number;
  seconds: number;
  normInf: number;
  norm2: number;
  /** SGD: mean training objective over the epoch (the quantity minimised). */
  loss?: number;
  /** Targeted attacks: share of X predicted as the target at the end of the pass. */
  targetSuccess?: number;
}

/**
 * Progress events every pass-based attack reports: clean predictions, the per-pass evaluation and the end of a
 * pass.
 */
export type PassProgress =
  | { phase: 'clean'; done: number; total: number }
  | { phase: 'evaluate'; pass: number; done: number; total: number }
  | { phase: 'pass-end'; pass: number; record: PassRecord };

/** A checkpoint to resume from: the v after `pass` completed passes (and, optionally, their history). */
export interface PassState {
  v: Float32Array;
  pass: number;
  history?: PassRecord[];
}

/** The options every pass-based attack takes. */
export interface PassOptions {
  /** The ℓp ball the perturbation lives in. */
  norm: LpNorm;
  /** Its radius ξ, in pixel units (0..255 scale). */
  xi: number;
  /**
   * Targeted variant: push every image to this class (the criterion becomes targeted misclassification and the
   * stopping rule uses the target success rate instead of the fooling rate).
   */
  target?: number;
  /** Seed of the visiting orders (and the attack's other draws). */
  seed?: number;
  /**
   * True labels of X (−1 unknown), only to report the error rate beside the fooling rate; the attack itself
   * never uses them (untargeted attacks push away from the model's own clean top-1).
   */
  labels?: Int32Array | null;
  /** Keep perturbed images in 0..255: classify clip(x + v). */
  clip?: boolean;
  /** Return the v of the pass with the best score rather than the last one. */
  keepBest?: boolean;
  /** Images per forward pass for the clean predictions and the per-pass evaluation. */
  evalBatchSize?: number;
  /** Stops at the next step boundary; the result then holds the v of the last completed pass. */
  signal?: AbortSignal;
  /** Resume from a checkpoint. */
  initial?: PassState;
  /** Called after each completed pass (for checkpoints); awaited. */
  onPassEnd?: (v: Float32Array, history: PassRecord[]) => void | Promise<void>;
}

/**
 * Defaults of the options every pass-based attack shares (seed 0, clipping on, the last pass's v, 64 images per
 * evaluation batch).
 */
export const PASS_DEFAULTS = { seed: 0, clip: true, keepBest: false, evalBatchSize: 64 } as const;

/** The shared options after validation, with every default filled in. */
export type ResolvedPassOptions = Required<Pick<PassOptions, 'norm' | 'xi' | 'seed' | 'clip' | 'keepBest' | 'evalBatchSize'>> &
  Pick<PassOptions, 'target' | 'signal' | 'initial' | 'onPassEnd' | 'labels'>;

/** What a pass-based attack returns: the perturbation, its history, fooling rate on X and the passes done. */
export interface PassResult {
  /** The perturbation, HWC row-major, pixel units. */
  v: Float32Array;
  shape: [number, number, number];
  history: PassRecord[];
  /** Fooling rate of the returned v on X (NaN when no pass completed). */
  foolingRate: number;
  /** Error rate of the returned v on X (NaN when no pass completed or no label is known). */
  errorRate: number;
  /** Clean top-1 accuracy on X (NaN when no label is known). */
  accuracyClean: number;
  /** Completed passes, resumed ones included. */
  passes: number;
  /** True when `signal` stopped the run; v is then the last completed pass's (or the initial) v. */
  aborted: boolean;
  /** k̂(x) for every image of X. */
  cleanPred: Int32Array;
}

/** BAD_ARGUMENT naming `option` unless `value` is an integer ≥ min. */
export function checkInt(value: number, min: number, option: string): number {
  if (!Number.isInteger(value) || value < min) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ ${min}, got ${value}`, option);
  return value;
}

/** δ of the stopping rule 1 − δ: in (0, 1). */
export function checkDelta(delta: number, option = 'delta'): number {
  if (!(delta > 0 && delta < 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1), got ${delta}`, option);
  return delta;
}

/** Validates and completes the shared options (the attack's own are its business). */
export function resolvePassOptions(o: PassOptions): ResolvedPassOptions {
  const seed = o.seed ?? PASS_DEFAULTS.seed;
  if (!Number.isFinite(seed)) throw new UapError('BAD_ARGUMENT', `must be a finite number, got ${seed}`, 'seed');
  if (o.target !== undefined) checkInt(o.target, 0, 'target');
  if (o.initial) checkInt(o.initial.pass, 0, 'initial.pass');
  if (o.labels && !(o.labels instanceof Int32Array)) throw new UapError('BAD_ARGUMENT', 'must be an Int32Array of class indices (−1 unknown)', 'labels');
  return {
    ...o,
    norm: checkNorm(o.norm),
    xi: checkXi(o.xi),
    seed,
    clip: o.clip ?? PASS_DEFAULTS.clip,
    keepBest: o.keepBest ?? PASS_DEFAULTS.keepBest,
    evalBatchSize: checkInt(o.evalBatchSize ?? PASS_DEFAULTS.evalBatchSize, 1, 'evalBatchSize'),
  };
}

/** What an attack sees of the run: fixed for all its passes. */
export interface PassContext {
  classifier: Classifier;
  source: ImageSource;
  shape: [number, number, number];
  /** H·W·C. */
  d: number;
  /** k̂(x_i) for every image of X. */
  cleanPred: Int32Array;
  criterion: Criterion;
  options: ResolvedPassOptions;
  /** True when the run should stop; gives the event loop a turn first (abort.ts). Call between steps. */
  stopped(): Promise<boolean>;
}

/** One pass of an attack: the v it ends with and what it counted (or null when stopped). */
interface PassStats {
  deepfoolCalls?: number;
  updates: number;
  loss?: number;
}

interface PassAttack {
  maxPasses: number;
  /** 1 − δ: stop once the score reaches it; undefined runs every pass. */
  goal: number | undefined;
  /** Replays the attack's own random draws of one pass (over n images) a resumed run skips; the orders are replayed here. */
  skipPass?(n: number): void;
  /**
   * Top-1 of every image of X on clip(x + v) (v null: on x), computed elsewhere (e.g. by queue workers);
   * null when stopped. Without it the driver predicts with the classifier.
   */
  predict?(v: Float32Array | null, onProgress: (done: number) => void): Promise<Int32Array | null>;
  /** Runs one pass from v in `order`; resolves to null when ctx.stopped() said so. */
  run(ctx: PassContext, pass: number, order: Int32Array, v: Float32Array): Promise<{ v: Float32Array; stats: PassStats } | null>;
}

export async function runPasses(
  classifier: Classifier,
  X: tf.Tensor4D | ImageSource,
  options: ResolvedPassOptions,
  attack: PassAttack,
  onProgress?: (e: PassProgress) => void,
): Promise<PassResult> {
  const { norm, xi, clip, signal } = options;
  const K = classifier.labels.ids.length;
  const criterion = criterionFor(options.target, K);
  const source = toSource(X, 'X');
  const n = source.size;
  const labels = options.labels ?? null;
  if (labels && labels.length !== n) throw new UapError('BAD_ARGUMENT', `${labels.length} labels for ${n} images`, 'labels');
  const shape = [...classifier.inputShape] as [number, number, number];
  const d = shape[0] * shape[1] * shape[2];
  const startPass = options.initial?.pass ?? 0;
  if (options.initial && options.initial.v.length !== d) {
    throw new UapError('BAD_ARGUMENT', `has ${options.initial.v.length} values, the model expects ${shape.join('×')}`, 'initial.v');
  }
  {
    const first = await source.get(Int32Array.of(0));
    const s = first.shape.slice(1).join('×');
    first.dispose();
    if (s !== shape.join('×')) throw new UapError('BAD_ARGUMENT', `images are ${s}, the model expects ${shape.join('×')}`, 'X');
  }

  const history = options.initial?.history ? options.initial.history.slice() : [];
  let v = options.initial ? projectLp(options.initial.v, xi, norm) : new Float32Array(d);
  // k̂(x_i) does not depend on v: computed once.
  onProgress?.({ phase: 'clean', done: 0, total: n });
  const cleanPred = attack.predict
    ? await attack.predict(null, (done) => onProgress?.({ phase: 'clean', done, total: n }))
    : await predict(classifier, source, options.evalBatchSize);
  if (cleanPred === null) throw new UapError('INTERRUPTED', 'stopped before the first pass');
  onProgress?.({ phase: 'clean', done: n, total: n });

  const score = (h: PassRecord): number => (criterion.target === undefined ? h.foolingRate : (h.targetSuccess ?? 0));
  const lastRates = () => ({ foolingRate: history.at(-1)?.foolingRate ?? Number.NaN, errorRate: history.at(-1)?.errorRate ?? Number.NaN });
  let best = { v, ...lastRates() };
  let bestScore = Number.NEGATIVE_INFINITY; // of `best`
  let completed = 0;
  const result = (aborted: boolean): PassResult => {
    const chosen = options.keepBest ? best : { v, ...lastRates() };
    return { ...chosen, accuracyClean: accuracyOn(labels, cleanPred), shape, history, passes: startPass + completed, aborted, cleanPred };
  };

  const rng = createRng(options.seed);
  for (let p = 0; p < startPass; p++) {
    permutation(n, rng); // the orders the resumed passes used
    attack.skipPass?.(n);
  }
  const reached = (h: PassRecord | undefined) => attack.goal !== undefined && h !== undefined && score(h) >= attack.goal;
  if (reached(history.at(-1))) return result(false); // a finished run resumed: nothing left to do

  const ctx: PassContext = { classifier, source, shape, d, cleanPred, criterion, options, stopped: () => stopRequested(signal) };
  for (let pass = startPass + 1; pass <= attack.maxPasses; pass++) {
    const t0 = performance.now();
    const order = permutation(n, rng);
    const out = await attack.run(ctx, pass, order, v);
    if (out === null || (await ctx.stopped())) return result(true);
    const onBatch = (done: number) => onProgress?.({ phase: 'evaluate', pass, done, total: n });
    const pertPred = attack.predict ? await attack.predict(out.v, onBatch) : await perturbedPredictions(ctx, out.v, onBatch);
    if (pertPred === null) return result(true);

    v = out.v;
    const { deepfoolCalls, updates, loss } = out.stats;
    const err = errorRate(labels, pertPred);
    const record: PassRecord = {
      pass,
      foolingRate: successRate(criterionFor(undefined), cleanPred, pertPred),
      ...(Number.isNaN(err) ? {} : { errorRate: err }),
      ...(deepfoolCalls === undefined ? {} : { deepfoolCalls }),
      updates,
      seconds: (performance.now() - t0) / 1000,
      normInf: lpNorm(v, 'inf'),
      norm2: lpNorm(v, 2),
      ...(loss === undefined ? {} : { loss }),
    };
    if (criterion.target !== undefined) record.targetSuccess = successRate(criterion, cleanPred, pertPred);
    history.push(record);
    completed++;
    if (!(score(record) <= bestScore)) {
      best = { v, foolingRate: record.foolingRate, errorRate: record.errorRate ?? Number.NaN };
      bestScore = score(record);
    }
    onProgress?.({ phase: 'pass-end', pass, record });
    await options.onPassEnd?.(v, history);
    if (reached(record)) break;
  }
  return result(false);
}

/** Top-1 on clip(x + v) (or x + v) for every image of X, batch by batch; null when stopped in between. */
async function perturbedPredictions(ctx: PassContext, v: Float32Array, onBatch: (done: number) => void): Promise<Int32Array | null> {
  const { source, classifier, options } = ctx;
  const n = source.size;
  const out = new Int32Array(n);
  const vt = tf.tensor3d(v, ctx.shape);
  try {
    for (let start = 0; start < n; start += options.evalBatchSize) {
      if (await ctx.stopped()) return null;
      const end = Math.min(n, start + options.evalBatchSize);
      out.set(await predictBatch(classifier, await source.get(range(start, end)), { v: vt, clip: options.clip }, true), start);
      onBatch(end);
    }
  } finally {
    vt.dispose();
  }
  return out;
}
