import * as tf from '@tensorflow/tfjs';
import type { ImageSource } from '../data/image-source.js';
import type { Classifier } from '../models/classifier.js';
import { predictBatch } from '../models/predict.js';
import { takeRows } from '../tensor/take_rows.js';
import { isInterrupted } from './abort.js';
import { deepfool, resolveDeepFoolOptions } from './deepfool.js';
import { checkDelta, checkInt, PASS_DEFAULTS, resolvePassOptions, runPasses, type PassContext, type PassOptions, type PassProgress, type PassResult, type ResolvedPassOptions } from './pass-driver.js';
import { projectLp } from './project.js';

export type { PassRecord } from './pass-driver.js';

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
 * the uninterrupted run would have. The passes, their evaluation, resume, abort and history are the shared
 * pass driver's (pass-driver.ts); this file is the pass itself.
 */
export interface UniversalOptions extends PassOptions {
  /** Stop once the fooling rate on X (targeted: the target success) reaches 1 − δ (paper: 0.2). */
  delta?: number;
  /** At most this many passes over X. */
  maxPasses?: number;
  /** DeepFool: classes considered (paper: 10). */
  candidates?: number;
  /** DeepFool: overshoot (paper: 0.02). */
  overshoot?: number;
  /** DeepFool: steps per image. */
  maxIterDeepFool?: number;
  /**
   * Norm of DeepFool's steps. Default: 'inf' for norm 'inf' (the ℓ∞-minimal step fills the ℓ∞ ball
   * efficiently), 2 otherwise. The paper used ℓ2 DeepFool steps for both p = 2 and p = ∞.
   */
  step?: 2 | 'inf';
  /** Images per "already fooled?" forward pass. */
  checkBatchSize?: number;
  /** Images per DeepFool call; 1 is the paper's exact sequential order (see above). */
  deepfoolBatchSize?: number;
  /** Called as the attack goes (see UniversalProgress). */
  onProgress?: (e: UniversalProgress) => void;
}

/** Algorithm 1's defaults: the paper's δ, candidates and overshoot; the rest as in the authors' code. */
export const UNIVERSAL_DEFAULTS = {
  ...PASS_DEFAULTS,
  delta: 0.2,
  maxPasses: 10,
  candidates: 10,
  overshoot: 0.02,
  maxIterDeepFool: 10,
  checkBatchSize: 32,
  deepfoolBatchSize: 1,
} as const;

/** The default DeepFool step norm for a ball: ℓ∞ steps for the ℓ∞ ball, ℓ2 steps otherwise. */
function defaultStep(norm: UniversalOptions['norm']): 2 | 'inf' {
  return norm === 'inf' ? 'inf' : 2;
}

/** Algorithm 1's options after validation, with every default filled in. */
export type ResolvedUniversalOptions = ResolvedPassOptions &
  Required<Pick<UniversalOptions, 'delta' | 'maxPasses' | 'candidates' | 'overshoot' | 'maxIterDeepFool' | 'step' | 'checkBatchSize' | 'deepfoolBatchSize'>> &
  Pick<UniversalOptions, 'onProgress'>;

/** Validates Algorithm 1's options and fills in the defaults; UapError BAD_ARGUMENT naming the option. */
export function resolveUniversalOptions(o: UniversalOptions): ResolvedUniversalOptions {
  const base = resolvePassOptions(o);
  const D = UNIVERSAL_DEFAULTS;
  const r = {
    ...base,
    delta: checkDelta(o.delta ?? D.delta),
    maxPasses: checkInt(o.maxPasses ?? D.maxPasses, 1, 'maxPasses'),
    checkBatchSize: checkInt(o.checkBatchSize ?? D.checkBatchSize, 1, 'checkBatchSize'),
    deepfoolBatchSize: checkInt(o.deepfoolBatchSize ?? D.deepfoolBatchSize, 1, 'deepfoolBatchSize'),
    candidates: o.candidates ?? D.candidates,
    overshoot: o.overshoot ?? D.overshoot,
    maxIterDeepFool: o.maxIterDeepFool ?? D.maxIterDeepFool,
    step: o.step ?? defaultStep(base.norm),
    onProgress: o.onProgress,
  };
  // DeepFool's own validator names these options as Algorithm 1 spells them.
  resolveDeepFoolOptions({ candidates: r.candidates, overshoot: r.overshoot, maxIter: r.maxIterDeepFool, norm: r.step }, {
    maxIter: 'maxIterDeepFool',
    norm: 'step',
  });
  return r;
}

/** Progress events of Algorithm 1: the shared pass events plus the images visited in the current pass. */
export type UniversalProgress = PassProgress | { phase: 'pass'; pass: number; done: number; total: number; deepfoolCalls: number; updates: number };

/** What Algorithm 1 returns (the shared PassResult). */
export type UniversalResult = PassResult;

/** Computes a universal perturbation for the images X with Algorithm 1 of the paper (see UniversalOptions). */
export async function universalPerturbation(
  classifier: Classifier,
  X: tf.Tensor4D | ImageSource,
  options: UniversalOptions,
): Promise<UniversalResult> {
  const o = resolveUniversalOptions(options);
  return runPasses(classifier, X, o, { maxPasses: o.maxPasses, goal: 1 - o.delta, run: (ctx, pass, order, v) => algorithm1Pass(ctx, o, pass, order, v) }, o.onProgress);
}

/** One pass of Algorithm 1 over X in `order`, from v; null when stopped. */
async function algorithm1Pass(ctx: PassContext, o: ResolvedUniversalOptions, pass: number, order: Int32Array, v: Float32Array) {
  const { classifier, source, shape, d, cleanPred, criterion } = ctx;
  const n = source.size;
  const checkBatch = o.checkBatchSize;
  const dfBatch = o.deepfoolBatchSize;
  const df = {
    candidates: o.candidates,
    overshoot: o.overshoot,
    maxIter: o.maxIterDeepFool,
    norm: o.step,
    clip: o.clip,
    batchSize: dfBatch,
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const targets = criterion.target === undefined ? undefined : new Int32Array(dfBatch).fill(criterion.target);
  let w = v; // the working v of this pass; the driver keeps it only when the pass completes
  let calls = 0;
  let updates = 0;
  const progress = (done: number) => o.onProgress?.({ phase: 'pass', pass, done, total: n, deepfoolCalls: calls, updates });

  for (let start = 0; start < n; start += checkBatch) {
    if (await ctx.stopped()) return null;
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
          const rest = takeRows(x, Array.from({ length: idx.length - pos }, (_, j) => pos + j));
          const vt = tf.tensor3d(w, shape);
          const pred = await predictBatch(classifier, rest, { v: vt, clip: o.clip }, true).finally(() => vt.dispose());
          for (let j = pos; j < idx.length; j++) fooled[j] = criterion.isAdversarial(cleanPred[idx[j]!]!, pred[j - pos]!) ? 1 : 0;
          stale = false;
        }
        // The next mini-batch of not-yet-fooled images, in visiting order.
        const sel: number[] = [];
        while (pos < idx.length && sel.length < dfBatch) {
          if (!fooled[pos]) sel.push(pos);
          pos++;
        }
        if (sel.length === 0) break;
        if (await ctx.stopped()) return null;
        const xs = takeRows(x, sel);
        const r = await deepfool(classifier, xs, { ...df, offset: w, ...(targets ? { target: targets.subarray(0, sel.length) } : {}) })
          .catch((e: unknown) => {
            if (isInterrupted(e)) return null; // stopped between two DeepFool iterations
            throw e;
          })
          .finally(() => xs.dispose());
        if (r === null) return null;
        calls += sel.length;
        for (let j = 0; j < sel.length; j++) {
          if (!r.converged[j]) continue;
          const next = new Float32Array(d);
          for (let i = 0; i < d; i++) next[i] = w[i]! + r.r[j * d + i]!;
          w = projectLp(next, o.xi, o.norm);
          updates++;
          stale = true;
        }
        progress(start + pos);
      }
    } finally {
      x.dispose();
    }
    progress(Math.min(n, start + checkBatch));
  }
  return { v: w, stats: { deepfoolCalls: calls, updates } };
}
