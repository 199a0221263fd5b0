import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import { predict, predictBatch } from '../models/predict.js';
import type { Classifier } from '../models/classifier.js';
import { createRng, permutation } from '../util/rng.js';
import { deepfool, deepfoolDefaults } from './deepfool.js';
import { checkNorm, checkXi, lpNorm, projectLp, type LpNorm } from './project.js';
import { toSource, type ImageSource } from '../data/image-source.js';

/**
 * Universal adversarial perturbations: Algorithm 1 of Moosavi-Dezfooli, Fawzi, Fawzi, Frossard,
 * "Universal adversarial perturbations", CVPR 2017 (arXiv 1610.08401).
 *
 *   v ← 0
 *   while Err(X_v) < 1 − δ:                        (one pass over X in a fresh random order)
 *     for each x_i in X:
 *       if k̂(x_i + v) = k̂(x_i):                    (x_i is not fooled yet)
 *         Δv_i ← minimal r with k̂(x_i + v + r) ≠ k̂(x_i)   (DeepFool on x_i + v)
 *         v ← P_{p,ξ}(v + Δv_i)                     (project onto the ℓp ball of radius ξ)
 *
 * Err(X_v) is the fooling rate on X: the share of images whose prediction on clip(x + v) differs from the
 * clean one. Δv_i is added only when DeepFool converged (as in the authors' code: an unconverged step
 * points nowhere useful).
 *
 * Batching. The test "is x_i + v already fooled?" runs for a chunk of `checkBatchSize` images of the
 * shuffled order in one forward pass; after every update of v the not-yet-visited rest of the chunk is
 * checked again, so every image is judged against the v it would see in the sequential algorithm. DeepFool
 * then runs on the next `deepfoolBatchSize` not-fooled images together, from the same v, and their steps are
 * applied one after another (each followed by the projection). With deepfoolBatchSize = 1 (the default)
 * this is exactly the paper's sequential algorithm; larger values trade that exactness (later images in
 * the mini-batch do not see the earlier images' updates) for fewer, larger jacobian calls.
 *
 * Determinism: pass p visits X in the p-th permutation drawn from createRng(seed), so the same seed, data
 * and backend give a bit-identical v, and a run resumed from a checkpoint (`initial`) continues exactly as
 * the uninterrupted run would have.
 */
export interface UniversalOptions {
  /** The ℓp ball the perturbation lives in. */
  norm: LpNorm;
  /** Its radius ξ, in pixel units (0..255 scale). */
  xi: number;
  /** Stop once the fooling rate on X reaches 1 − δ (paper: 0.2). */
  delta?: number;
  /** At most this many passes over X (default 10). */
  maxPasses?: number;
  /** DeepFool: classes considered (paper: 10). */
  candidates?: number;
  /** DeepFool: overshoot (paper: 0.02). */
  overshoot?: number;
  /** DeepFool: steps per image (default 10). */
  maxIterDeepFool?: number;
  /**
   * Norm of DeepFool's steps. Default: 'inf' for norm 'inf' (the ℓ∞-minimal step fills the ℓ∞ ball
   * efficiently), 2 otherwise. The paper used ℓ2 DeepFool steps for both p = 2 and p = ∞.
   */
  step?: 2 | 'inf';
  /**
   * Targeted variant: push every image to this class. An image counts as done when clip(x + v) is classified
   * as the target, DeepFool runs in its targeted form, and the stopping rule uses the target success rate
   * (share of X classified as the target) instead of the fooling rate.
   */
  target?: number;
  /** Seed of the visiting order (default 0). */
  seed?: number;
  /** Keep perturbed images in 0..255: classify clip(x + v) (default true). */
  clip?: boolean;
  /** Return the v of the pass with the highest fooling rate (targeted: target success) rather than the last one (default false). */
  keepBest?: boolean;
  /** Images per "already fooled?" forward pass (default 32). */
  checkBatchSize?: number;
  /** Images per DeepFool call; 1 (default) is the paper's exact sequential order (see above). */
  deepfoolBatchSize?: number;
  /** Images per forward pass when measuring the fooling rate (default 64). */
  evalBatchSize?: number;
  onProgress?: (e: UniversalProgress) => void;
  /** Stops at the next image boundary; the result then holds the v of the last completed pass. */
  signal?: AbortSignal;
  /** Resume: the v after `pass` completed passes (and, optionally, their history). */
  initial?: { v: Float32Array; pass: number; history?: PassRecord[] };
  /** Called after each pass (for checkpoints); awaited. */
  onPassEnd?: (v: Float32Array, history: PassRecord[]) => void | Promise<void>;
}

export interface PassRecord {
  /** 1-based pass number. */
  pass: number;
  /** Fooling rate on X at the end of the pass. */
  foolingRate: number;
  /** DeepFool runs (images not fooled when visited). */
  deepfoolCalls: number;
  /** Of those, how many converged and moved v (SGD: optimiser steps). */
  updates: number;
  seconds: number;
  normInf: number;
  norm2: number;
  /** SGD attacks: mean training objective over the epoch (the quantity minimised). */
  loss?: number;
  /** Targeted attacks: share of X predicted as the target at the end of the pass. */
  targetSuccess?: number;
}

export type UniversalProgress =
  | { phase: 'clean'; done: number; total: number }
  | { phase: 'pass'; pass: number; done: number; total: number; deepfoolCalls: number; updates: number }
  | { phase: 'evaluate'; pass: number; done: number; total: number }
  | { phase: 'pass-end'; pass: number; record: PassRecord };

export interface UniversalResult {
  /** The perturbation, HWC row-major, pixel units. */
  v: Float32Array;
  shape: [number, number, number];
  history: PassRecord[];
  /** Fooling rate of the returned v on X (NaN when no pass completed). */
  foolingRate: number;
  /** Completed passes, resumed ones included. */
  passes: number;
  /** True when `signal` stopped the run; v is then the last completed pass's (or the initial) v. */
  aborted: boolean;
  /** k̂(x) for every image of X. */
  cleanPred: Int32Array;
}

function checkInt(value: number, min: number, option: string): number {
  if (!Number.isInteger(value) || value < min) {
    throw new UapError('BAD_ARGUMENT', `must be an integer ≥ ${min}, got ${value}`, option);
  }
  return value;
}

export async function universalPerturbation(
  classifier: Classifier,
  X: tf.Tensor4D | ImageSource,
  options: UniversalOptions,
): Promise<UniversalResult> {
  const norm = checkNorm(options.norm);
  const xi = checkXi(options.xi);
  const delta = options.delta ?? 0.2;
  if (!(delta > 0 && delta < 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1), got ${delta}`, 'delta');
  const maxPasses = checkInt(options.maxPasses ?? 10, 1, 'maxPasses');
  const checkBatch = checkInt(options.checkBatchSize ?? 32, 1, 'checkBatchSize');
  const dfBatch = checkInt(options.deepfoolBatchSize ?? 1, 1, 'deepfoolBatchSize');
  const evalBatch = checkInt(options.evalBatchSize ?? 64, 1, 'evalBatchSize');
  const seed = options.seed ?? 0;
  if (!Number.isFinite(seed)) throw new UapError('BAD_ARGUMENT', `must be a finite number, got ${seed}`, 'seed');
  const clip = options.clip ?? true;
  const df = deepfoolDefaults({
    candidates: options.candidates ?? 10,
    overshoot: options.overshoot ?? 0.02,
    maxIter: options.maxIterDeepFool ?? 10,
    norm: options.step ?? (norm === 'inf' ? 'inf' : 2),
    clip,
    batchSize: dfBatch,
  });
  const target = options.target;
  const K = classifier.labels.ids.length;
  if (target !== undefined && !(Number.isInteger(target) && target >= 0 && target < K)) {
    throw new UapError('BAD_ARGUMENT', `class ${target} outside 0..${K - 1}`, 'target');
  }
  const source = toSource(X, 'X');
  const n = source.size;
  const shape = [...classifier.inputShape] as [number, number, number];
  const d = shape[0] * shape[1] * shape[2];
  const startPass = options.initial ? checkInt(options.initial.pass, 0, 'initial.pass') : 0;
  if (options.initial && options.initial.v.length !== d) {
    throw new UapError('BAD_ARGUMENT', `has ${options.initial.v.length} values, the model expects ${shape.join('×')}`, 'initial.v');
  }

  const history = options.initial?.history ? options.initial.history.slice() : [];
  let v = options.initial ? projectLp(options.initial.v, xi, norm) : new Float32Array(d);
  let cleanPred: Int32Array = new Int32Array(0);
  const lastRate = (): number => history.at(-1)?.foolingRate ?? Number.NaN;
  let best = { v, foolingRate: lastRate() };
  let bestScore = Number.NEGATIVE_INFINITY; // of `best`, by the stopping rule's measure
  let completed = 0;
  const result = (aborted: boolean): UniversalResult => {
    const chosen = options.keepBest ? best : { v, foolingRate: lastRate() };
    return { ...chosen, shape, history, passes: startPass + completed, aborted, cleanPred };
  };

  // k̂(x_i) does not depend on v: compute it once (below, after the shape check).
  {
    const first = await source.get(Int32Array.of(0));
    const s = first.shape.slice(1).join('×');
    first.dispose();
    if (s !== shape.join('×')) throw new UapError('BAD_ARGUMENT', `images are ${s}, the model expects ${shape.join('×')}`, 'X');
  }
  options.onProgress?.({ phase: 'clean', done: 0, total: n });
  cleanPred = await predict(classifier, source, evalBatch);
  options.onProgress?.({ phase: 'clean', done: n, total: n });

  const rng = createRng(seed);
  for (let p = 0; p < startPass; p++) permutation(n, rng); // the orders the resumed passes used

  const goal = 1 - delta;
  const score = (h: PassRecord): number => (target === undefined ? h.foolingRate : (h.targetSuccess ?? 0));
  if (history.length > 0 && score(history[history.length - 1]!) >= goal) return result(false);
  const targets = target === undefined ? undefined : new Int32Array(dfBatch).fill(target);

  for (let pass = startPass + 1; pass <= maxPasses; pass++) {
    const t0 = performance.now();
    const order = permutation(n, rng);
    let w = v; // the working v of this pass; v itself changes only when the pass completes
    let calls = 0;
    let updates = 0;

    for (let start = 0; start < n; start += checkBatch) {
      if (options.signal?.aborted) return result(true);
      const idx = order.slice(start, Math.min(n, start + checkBatch));
      const x = await source.get(idx);
      try {
        // fooled[j]: is image j of the chunk fooled by the current w? Recomputed for the unvisited rest
        // whenever w changes (stale), so each image is judged against the w the sequential algorithm gives it.
        let fooled = new Uint8Array(idx.length);
        let stale = true;
        let pos = 0;
        while (pos < idx.length) {
          if (stale) {
            fooled = new Uint8Array(idx.length);
            const rest = tf.slice(x, [pos], [idx.length - pos]);
            const vt = tf.tensor3d(w, shape);
            const pred = await predictBatch(classifier, rest, { v: vt, clip }, true).finally(() => vt.dispose());
            for (let j = pos; j < idx.length; j++) {
              const p = pred[j - pos]!;
              fooled[j] = (target === undefined ? p !== cleanPred[idx[j]!] : p === target) ? 1 : 0;
            }
            stale = false;
          }
          // The next mini-batch of not-yet-fooled images, in visiting order.
          const sel: number[] = [];
          while (pos < idx.length && sel.length < dfBatch) {
            if (!fooled[pos]) sel.push(pos);
            pos++;
          }
          if (sel.length === 0) break;
          if (options.signal?.aborted) return result(true);
          const xs = tf.tidy(() => tf.gather(x, tf.tensor1d(sel, 'int32')) as tf.Tensor4D);
          const r = await deepfool(classifier, xs, {
            ...df,
            offset: w,
            ...(targets ? { target: targets.subarray(0, sel.length) } : {}),
          }).finally(() => xs.dispose());
          calls += sel.length;
          for (let j = 0; j < sel.length; j++) {
            if (!r.converged[j]) continue;
            const next = new Float32Array(d);
            for (let i = 0; i < d; i++) next[i] = w[i]! + r.r[j * d + i]!;
            w = projectLp(next, xi, norm);
            updates++;
            stale = true;
          }
          options.onProgress?.({ phase: 'pass', pass, done: start + pos, total: n, deepfoolCalls: calls, updates });
        }
      } finally {
        x.dispose();
      }
      options.onProgress?.({ phase: 'pass', pass, done: Math.min(n, start + checkBatch), total: n, deepfoolCalls: calls, updates });
    }
    if (options.signal?.aborted) return result(true);

    const ev = await evaluatePerturbation(classifier, source, null, w, {
      clip,
      batchSize: evalBatch,
      cleanPred,
      ...(target === undefined ? {} : { target }),
      onProgress: (e) => options.onProgress?.({ phase: 'evaluate', pass, ...e }),
    });
    v = w;
    const record: PassRecord = {
      pass,
      foolingRate: ev.foolingRate,
      deepfoolCalls: calls,
      updates,
      seconds: (performance.now() - t0) / 1000,
      normInf: lpNorm(v, 'inf'),
      norm2: lpNorm(v, 2),
    };
    if (target !== undefined) record.targetSuccess = ev.targetSuccess!;
    history.push(record);
    completed++;
    if (!(score(record) <= bestScore)) {
      best = { v, foolingRate: ev.foolingRate };
      bestScore = score(record);
    }

    options.onProgress?.({ phase: 'pass-end', pass, record });
    await options.onPassEnd?.(v, history);
    if (score(record) >= goal) break;
  }
  return result(false);
}
