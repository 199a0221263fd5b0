import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { argmaxRows } from '../models/predict.js';
import { takeRows } from '../tensor/take_rows.js';
import { interrupted, stopRequested } from './abort.js';

/**
 * DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016), multi-class, Algorithm 2 of that paper,
 * on the logits f of a Classifier, for a batch of images at once.
 *
 * At the current point x_i the classifier is linearised; for every candidate class k ≠ k̂ (the
 * original label) let f'_k = f_k(x_i) − f_k̂(x_i) and w'_k = ∇f_k(x_i) − ∇f_k̂(x_i). The nearest
 * linearised boundary and the step onto it are
 *   ℓ2:  l = argmin_k |f'_k| / ‖w'_k‖₂,   r_i = (|f'_l| + 1e-4) / ‖w'_l‖₂² · w'_l
 *   ℓ∞:  l = argmin_k |f'_k| / ‖w'_k‖₁,   r_i = (|f'_l| + 1e-4) / ‖w'_l‖₁ · sign(w'_l)
 * (the ℓ∞ case is the paper's general-p formula with q = 1). The 1e-4 makes each step land just past
 * the boundary rather than on it. The iterate is x + (1 + overshoot)·Σ r_i, as in the authors' code,
 * and the loop stops when the label changes or after maxIter steps.
 *
 * Batched: one classifier.jacobian call per iteration serves every image that has not flipped yet;
 * images leave the batch as soon as they flip.
 */
export interface DeepFoolOptions {
  /** Classes considered: the top `candidates` of the starting prediction, the original included (paper: 10). */
  candidates?: number;
  /** The returned perturbation is (1 + overshoot)·Σ r_i (paper: 0.02). */
  overshoot?: number;
  /** Steps per image before giving up (default 50; UAP Algorithm 1 uses 10). */
  maxIter?: number;
  /** Norm whose minimal perturbation each step targets: 2 (paper's default) or 'inf'. */
  norm?: 2 | 'inf';
  /** Evaluate the classifier on clip(x + offset + r, 0, 255) so images stay valid pixels (default false). */
  clip?: boolean;
  /**
   * A perturbation v [H, W, C] already applied to every image: DeepFool starts from x + v and r is the extra
   * step (UAP Algorithm 1 calls DeepFool on x_i + v). Not owned by DeepFool.
   */
  offset?: Float32Array | tf.Tensor3D;
  /**
   * Targeted variant: per image, the class to reach. Each step crosses the linearised boundary between t and
   * the strongest other class at the current point (among t's `candidates` − 1 strongest rivals, refreshed every
   * iteration), until the prediction is t.
   */
  target?: Int32Array;
  /** Images per jacobian call (default 32): memory is batchSize × candidates × H·W·C floats. */
  batchSize?: number;
  /** Checked before every jacobian call; an abort throws UapError INTERRUPTED (the partial steps are dropped). */
  signal?: AbortSignal;
}

/**
 * DeepFool's result for each image: its perturbation, the steps taken, whether it converged and the labels before
 * and after.
 */
export interface DeepFoolResult {
  /** Per image, row-major [N, H·W·C]: the perturbation (1 + overshoot)·Σ r_i to add to x + offset. */
  r: Float32Array;
  shape: [number, number, number];
  /** Steps taken per image. */
  iterations: Int32Array;
  /** 1 when the label changed (targeted: reached the target) within maxIter steps. */
  converged: Uint8Array;
  /** Prediction at the starting point x + offset. */
  originalLabel: Int32Array;
  /** Prediction at x + offset + r (clipped when `clip`). */
  label: Int32Array;
}

/** DeepFool's defaults: the paper's candidates and overshoot; 50 steps, ℓ2 steps, no clipping, 32 images per call. */
export const DEEPFOOL_DEFAULTS = { candidates: 10, overshoot: 0.02, maxIter: 50, norm: 2, clip: false, batchSize: 32 } as const;

/** DeepFool's options after validation, with every default filled in. */
export type ResolvedDeepFoolOptions = Required<Omit<DeepFoolOptions, 'offset' | 'target' | 'signal'>> & Pick<DeepFoolOptions, 'signal'>;

/**
 * Validates DeepFool's options and fills in the defaults, for callers that validate once and call DeepFool many
 * times. UapError BAD_ARGUMENT naming the option; `names` renames options for a caller that spells them
 * otherwise (Algorithm 1 calls maxIter "maxIterDeepFool").
 */
export function resolveDeepFoolOptions(o: DeepFoolOptions = {}, names: Partial<Record<keyof DeepFoolOptions, string>> = {}): ResolvedDeepFoolOptions {
  const D = DEEPFOOL_DEFAULTS;
  const r = {
    candidates: o.candidates ?? D.candidates,
    overshoot: o.overshoot ?? D.overshoot,
    maxIter: o.maxIter ?? D.maxIter,
    norm: o.norm ?? D.norm,
    clip: o.clip ?? D.clip,
    batchSize: o.batchSize ?? D.batchSize,
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const bad = (option: keyof DeepFoolOptions, message: string) => new UapError('BAD_ARGUMENT', message, names[option] ?? option);
  if (!Number.isInteger(r.candidates) || r.candidates < 2) throw bad('candidates', `must be an integer ≥ 2, got ${r.candidates}`);
  if (!Number.isFinite(r.overshoot) || r.overshoot < 0) throw bad('overshoot', `must be a finite number ≥ 0, got ${r.overshoot}`);
  if (!Number.isInteger(r.maxIter) || r.maxIter < 1) throw bad('maxIter', `must be an integer ≥ 1, got ${r.maxIter}`);
  if (r.norm !== 2 && r.norm !== 'inf') throw bad('norm', `DeepFool steps support 2 or 'inf', got ${JSON.stringify(r.norm)}`);
  if (!Number.isInteger(r.batchSize) || r.batchSize < 1) throw bad('batchSize', `must be an integer ≥ 1, got ${r.batchSize}`);
  return r;
}

/**
 * Runs DeepFool on a batch of images: for each, a small perturbation that changes its top-1 (see DeepFoolOptions).
 */
export async function deepfool(classifier: Classifier, x: tf.Tensor4D, options: DeepFoolOptions = {}): Promise<DeepFoolResult> {
  const opts = resolveDeepFoolOptions(options);
  const [n, h, w, c] = x.shape;
  const d = h * w * c;
  if (n === 0) throw new UapError('BAD_ARGUMENT', 'no images', 'images');
  const offset = options.offset;
  const offsetSize = offset === undefined ? d : offset instanceof Float32Array ? offset.length : offset.size;
  if (offsetSize !== d) throw new UapError('BAD_ARGUMENT', `must have H·W·C = ${d} values, got ${offsetSize}`, 'offset');
  const target = options.target;
  if (target !== undefined && target.length !== n) {
    throw new UapError('BAD_ARGUMENT', `needs one class per image (${n}), got ${target.length}`, 'target');
  }

  const result: DeepFoolResult = {
    r: new Float32Array(n * d),
    shape: [h, w, c],
    iterations: new Int32Array(n),
    converged: new Uint8Array(n),
    originalLabel: new Int32Array(n),
    label: new Int32Array(n),
  };
  const v = offset === undefined ? null : offset instanceof Float32Array ? tf.tensor3d(offset, [h, w, c]) : offset;
  try {
    for (let start = 0; start < n; start += opts.batchSize) {
      const end = Math.min(n, start + opts.batchSize);
      const xs = tf.slice(x, [start, 0, 0, 0], [end - start, h, w, c]);
      const base = v ? tf.tidy(() => tf.add(xs, v) as tf.Tensor4D) : xs;
      try {
        await deepfoolChunk(classifier, base, start, opts, target, result);
      } finally {
        tf.dispose([xs, base]);
      }
    }
  } finally {
    if (v && !(offset instanceof tf.Tensor)) v.dispose();
  }
  return result;
}

/** Indices of the `k` largest values of row `row` of a [·, K] array, largest first (ties: lower index first). */
function topK(values: Float32Array, row: number, K: number, k: number, exclude = -1): number[] {
  const idx: number[] = [];
  for (let j = 0; j < K; j++) if (j !== exclude) idx.push(j);
  idx.sort((a, b) => values[row * K + b]! - values[row * K + a]! || a - b);
  return idx.slice(0, k);
}

async function deepfoolChunk(
  classifier: Classifier,
  base: tf.Tensor4D, // x + offset for this chunk; not owned
  start: number,
  opts: ResolvedDeepFoolOptions,
  target: Int32Array | undefined,
  out: DeepFoolResult,
): Promise<void> {
  const [m0, h, w, c] = base.shape;
  const d = h * w * c;
  const scale = 1 + opts.overshoot;

  // Active rows: chunk-local image index, their start points (a tensor) and their running Σ r_i (on the host:
  // the linearised step is one pass over the gradients in plain arrays, see addLinearStep).
  let active = Int32Array.from({ length: m0 }, (_, i) => i);
  let baseA: tf.Tensor4D = tf.clone(base);
  let rsum = new Float32Array(m0 * d);
  const point = (): tf.Tensor4D =>
    tf.tidy(() => {
      const p = tf.add(baseA, tf.mul(tf.tensor4d(rsum, baseA.shape), scale));
      return (opts.clip ? tf.clipByValue(p, 0, 255) : p) as tf.Tensor4D;
    });

  try {
    // The starting prediction fixes the original label and the candidate classes.
    const p0 = point();
    const l0 = await classifier.logits(p0);
    const logits0 = (await l0.data()) as Float32Array;
    tf.dispose([p0, l0]);
    const K = logits0.length / m0;
    if (K < 2) throw new UapError('BAD_ARGUMENT', `DeepFool needs at least 2 classes, the classifier has ${K}`, 'classifier');
    const k = Math.min(opts.candidates, K);
    const orig = argmaxRows(logits0, K);
    // classes[i] (k per row): untargeted, the top-k of the start point (original first) — fixed, as in the
    // paper; targeted, [t, its k−1 strongest rivals], refreshed from the latest logits every iteration.
    let classes = new Int32Array(m0 * k);
    for (let i = 0; i < m0; i++) {
      const g = start + i;
      out.originalLabel[g] = orig[i]!;
      out.label[g] = orig[i]!;
      if (target) {
        const t = target[g]!;
        if (!Number.isInteger(t) || t < 0 || t >= K) {
          throw new UapError('BAD_ARGUMENT', `class ${t} outside 0..${K - 1}`, 'target');
        }
        classes.set([t, ...topK(logits0, i, K, k - 1, t)], i * k);
      } else {
        classes.set(topK(logits0, i, K, k), i * k);
      }
    }

    for (let iter = 0; active.length > 0; iter++) {
      if (await stopRequested(opts.signal)) throw interrupted('DeepFool');
      const mA = active.length;
      const xp = point();
      let logits: tf.Tensor2D;
      let grads: tf.Tensor5D | null = null;
      if (iter < opts.maxIter) {
        const cls = tf.tensor2d(classes, [mA, k], 'int32');
        ({ logits, grads } = await classifier.jacobian(xp, cls));
        cls.dispose();
      } else {
        logits = await classifier.logits(xp); // the last step's outcome only
      }
      xp.dispose();
      const L = (await logits.data()) as Float32Array;
      logits.dispose();
      const pred = argmaxRows(L, K);

      // Images that flipped (reached the target) leave the batch with their Σ r_i.
      const keep: number[] = [];
      const done: number[] = [];
      for (let a = 0; a < mA; a++) {
        const g = start + active[a]!;
        const flipped = target ? pred[a] === target[g] : pred[a] !== orig[active[a]!];
        out.label[g] = pred[a]!;
        out.iterations[g] = iter;
        if (flipped) {
          out.converged[g] = 1;
          done.push(a);
        } else if (iter < opts.maxIter) keep.push(a);
        else done.push(a);
      }
      for (const a of done) {
        const g = start + active[a]!;
        for (let j = 0; j < d; j++) out.r[g * d + j] = rsum[a * d + j]! * scale;
      }
      if (keep.length === 0 || grads === null) {
        grads?.dispose();
        break;
      }

      // Shrink the batch to the rows that go on, then take one linearised step for each.
      const G = (await grads.data()) as Float32Array;
      grads.dispose();
      const next = new Float32Array(keep.length * d);
      keep.forEach((a, i) => next.set(rsum.subarray(a * d, a * d + d), i * d));
      if (keep.length < mA) {
        const b2 = takeRows(baseA, keep) as tf.Tensor4D;
        baseA.dispose();
        baseA = b2;
        const nextClasses = new Int32Array(keep.length * k);
        keep.forEach((a, i) => nextClasses.set(classes.subarray(a * k, a * k + k), i * k));
        classes = nextClasses;
        active = Int32Array.from(keep, (a) => active[a]!);
      }
      const Lkeep = new Float32Array(keep.length * K);
      keep.forEach((a, i) => Lkeep.set(L.subarray(a * K, a * K + K), i * K));
      addLinearStep(next, G, keep, Lkeep, classes, K, k, opts.norm, target !== undefined);
      rsum = next;

      if (target) {
        // Refresh the rivals of t from this iteration's logits (the point just before the step).
        for (let i = 0; i < keep.length; i++) {
          const t = classes[i * k]!;
          classes.set([t, ...topK(Lkeep, i, K, k - 1, t)], i * k);
        }
      }
    }
  } finally {
    baseA.dispose();
  }
}

/**
 * One DeepFool step per row, added to `rsum` [m, D]. G holds the gradients of the classes at the current point,
 * [·, k, D]; row i of the step reads G's row `rows[i]`, the logits L [m, K] and `classes` (k per row) of row i.
 * Untargeted: column 0 is the original class and the step goes to the nearest linearised boundary among columns
 * 1..k−1. Targeted: column 0 is the target; the step crosses the boundary between it and the strongest rival.
 *
 * Plain loops over host arrays rather than tensor ops: the gradients are read once per candidate (the dual norm
 * of w'_j = g_j − g_0 for every j) and once more for the chosen step, with nothing materialised; with tfjs ops
 * the same step made and freed five [m, k, D] or [m, D] tensors, ~14 ms per iteration of one mobilenet photo,
 * a third of Algorithm 1's time on the ort engine (measured 2026-12-01). The norms sum in float64.
 */
function addLinearStep(
  rsum: Float32Array,
  G: Float32Array,
  rows: readonly number[],
  L: Float32Array,
  classes: Int32Array,
  K: number,
  k: number,
  norm: 2 | 'inf',
  targeted: boolean,
): void {
  const d = rsum.length / rows.length;
  // Norm of w' whose ratio |f'|/‖w'‖ is the distance to the linearised boundary: the dual of the step norm.
  const dualNorm = (plus: number, minus: number): number => {
    let s = 0;
    if (norm === 2) {
      for (let j = 0; j < d; j++) {
        const t = G[plus + j]! - G[minus + j]!;
        s += t * t;
      }
      return Math.sqrt(s);
    }
    for (let j = 0; j < d; j++) s += Math.abs(G[plus + j]! - G[minus + j]!);
    return s;
  };
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]! * k * d; // offset of this image's k gradients in G
    const f = (j: number) => L[i * K + classes[i * k + j]!]!;
    // w' = G[plus] − G[minus], f' = its logit difference, n = ‖w'‖ (dual norm)
    let plus: number;
    let minus: number;
    let fSel: number;
    let nSel: number;
    if (!targeted) {
      minus = row;
      plus = row + d;
      fSel = f(1) - f(0);
      nSel = dualNorm(plus, minus);
      let best = nSel > 0 ? Math.abs(fSel) / nSel : Number.POSITIVE_INFINITY;
      for (let j = 2; j < k; j++) {
        const nj = dualNorm(row + j * d, minus);
        const dist = nj > 0 ? Math.abs(f(j) - f(0)) / nj : Number.POSITIVE_INFINITY;
        if (dist < best) {
          best = dist;
          plus = row + j * d;
          fSel = f(j) - f(0);
          nSel = nj;
        }
      }
    } else {
      // Rival = the strongest non-target candidate at the current point; w' = ∇f_t − ∇f_rival.
      let rival = 1;
      for (let j = 2; j < k; j++) if (f(j) > f(rival)) rival = j;
      plus = row;
      minus = row + rival * d;
      fSel = f(0) - f(rival);
      nSel = dualNorm(plus, minus);
    }
    // Step length so that the linearised f'_l moves by |f'_l| + 1e-4 (just past zero); 0 when w' vanishes.
    if (!(nSel > 0)) continue;
    const coef = (Math.abs(fSel) + 1e-4) / (norm === 2 ? nSel * nSel : nSel);
    const r = i * d;
    for (let j = 0; j < d; j++) {
      const w = G[plus + j]! - G[minus + j]!;
      rsum[r + j] = rsum[r + j]! + coef * (norm === 2 ? w : Math.sign(w));
    }
  }
}
