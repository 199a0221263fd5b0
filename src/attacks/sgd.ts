import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import { predict } from '../models/predict.js';
import type { Classifier } from '../models/classifier.js';
import { augmentImages, checkAugment, isIdentity, type AugmentOptions } from '../data/augment.js';
import { createRng, permutation } from '../util/rng.js';
import { checkNorm, checkXi, lpNorm, projectLp, type LpNorm } from './project.js';
import { range, toSource, type ImageSource } from '../data/image-source.js';
import type { PassRecord, UniversalResult } from './universal.js';

/**
 * Universal perturbation by stochastic gradient (in the style of Shafahi, Najibi, Xu, Dickerson, Davis,
 * Goldstein, "Universal adversarial training", AAAI 2020): instead of Algorithm 1's per-image DeepFool
 * steps, optimise v directly on minibatches of X,
 *
 *   untargeted: maximise the loss of the clean prediction y = k̂(x)      over ‖v‖_p ≤ ξ
 *   targeted:   minimise the loss of the target class t
 *
 * with the gradient ∇_v = Σ_i ∂loss(clip(x_i + v))/∂x_i (one classifier.vjp per minibatch) and a projected
 * step after each minibatch. Losses:
 *   'ce'      cross-entropy of the softmax;
 *   'margin'  the clamped CW-style margin max(f_y − max_{k≠y} f_k, −κ) (targeted: max(max_{k≠t} f_k − f_t, −κ)):
 *             an image stops pulling on v once it is fooled by a margin κ, so v serves the images not fooled yet.
 * Steps: 'sgd' takes sign(g) for ℓ∞ (steepest ascent in ℓ∞) and g/‖g‖₂ for ℓ2 and ℓ1; 'adam' takes Adam's
 * update. The step size follows a cosine schedule from stepSize down to 0 over all steps, or stays constant.
 * With `augment`, each minibatch is seen through random mirrors and crops (src/data/augment.ts): with a few
 * hundred photos v otherwise fits X itself (see docs/results.md: 41.5% → 80.0% on val for mobilenet_v1_0.75_224).
 */
export interface SgdOptions {
  norm: LpNorm;
  xi: number;
  /** Passes over X (default 10). */
  epochs?: number;
  /** Images per gradient step (default 32). */
  batchSize?: number;
  /** Largest step, in pixels (per coordinate for ℓ∞ sign steps and Adam; in ℓ2 length otherwise). Default ξ/10. */
  stepSize?: number;
  schedule?: 'cosine' | 'constant';
  optimizer?: 'sgd' | 'adam';
  loss?: 'ce' | 'margin';
  /** Margin loss clamp κ ≥ 0 (default 0: stop at the decision boundary). */
  kappa?: number;
  /** Targeted: the class every image should be pushed to. */
  target?: number;
  /**
   * Random flips and crops of each minibatch's images (not of v), so that v fits photos like X rather than X
   * itself. Evaluation on X stays on the images as given. Default: none.
   */
  augment?: AugmentOptions;
  /** Stop once the fooling rate (targeted: target success) reaches 1 − δ; by default all epochs run. */
  delta?: number;
  seed?: number;
  clip?: boolean;
  evalBatchSize?: number;
  onProgress?: (e: SgdProgress) => void;
  /** Stops before the next minibatch; the result holds the v of the last completed epoch. */
  signal?: AbortSignal;
  initial?: { v: Float32Array; pass: number; history?: PassRecord[] };
  onPassEnd?: (v: Float32Array, history: PassRecord[]) => void | Promise<void>;
}

export type SgdProgress =
  | { phase: 'clean'; done: number; total: number }
  | { phase: 'epoch'; pass: number; done: number; total: number; loss: number }
  | { phase: 'evaluate'; pass: number; done: number; total: number }
  | { phase: 'pass-end'; pass: number; record: PassRecord };

function positiveInt(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${value}`, option);
  return value;
}

/**
 * ∂J/∂logits for a minibatch, where J (minimised) is the mean over the batch of
 *   untargeted: −CE(z, y)  or  max(z_y − max_{k≠y} z_k, −κ)
 *   targeted:   CE(z, t)   or  max(max_{k≠t} z_k − z_t, −κ)
 * `cls` holds y (untargeted) or t (targeted) per row.
 */
export function lossGradient(z: tf.Tensor2D, cls: tf.Tensor1D, loss: 'ce' | 'margin', kappa: number, targeted: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, K] = z.shape;
    const onehot = tf.oneHot(cls, K).toFloat();
    if (loss === 'ce') {
      const g = tf.sub(tf.softmax(z), onehot); // ∂CE/∂z
      return tf.div(targeted ? g : tf.neg(g), b) as tf.Tensor2D;
    }
    // The strongest other class k* and whether the clamp is inactive (the margin still counts).
    const other = tf.oneHot(tf.argMax(tf.sub(z, tf.mul(onehot, 1e30)), 1), K).toFloat();
    const zc = tf.sum(tf.mul(z, onehot), 1);
    const zo = tf.sum(tf.mul(z, other), 1);
    const m = targeted ? tf.sub(zo, zc) : tf.sub(zc, zo);
    const active = tf.reshape(tf.greater(m, -kappa).toFloat(), [b, 1]);
    const g = targeted ? tf.sub(other, onehot) : tf.sub(onehot, other);
    return tf.div(tf.mul(g, active), b) as tf.Tensor2D;
  });
}

/** Mean of J (see lossGradient) on the host, for reporting. */
export function lossValue(z: Float32Array, cls: Int32Array, K: number, loss: 'ce' | 'margin', kappa: number, targeted: boolean): number {
  let s = 0;
  const b = cls.length;
  for (let i = 0; i < b; i++) {
    const row = z.subarray(i * K, (i + 1) * K);
    const c = cls[i]!;
    if (loss === 'ce') {
      let mx = -Infinity;
      for (const a of row) mx = Math.max(mx, a);
      let se = 0;
      for (const a of row) se += Math.exp(a - mx);
      const ce = mx + Math.log(se) - row[c]!;
      s += targeted ? ce : -ce;
    } else {
      let other = -Infinity;
      for (let k = 0; k < K; k++) if (k !== c) other = Math.max(other, row[k]!);
      s += Math.max(targeted ? other - row[c]! : row[c]! - other, -kappa);
    }
  }
  return s / b;
}

export async function sgdPerturbation(
  classifier: Classifier,
  X: tf.Tensor4D | ImageSource,
  options: SgdOptions,
): Promise<UniversalResult> {
  const norm = checkNorm(options.norm);
  const xi = checkXi(options.xi);
  const epochs = positiveInt(options.epochs ?? 10, 'epochs');
  const batchSize = positiveInt(options.batchSize ?? 32, 'batchSize');
  const evalBatch = positiveInt(options.evalBatchSize ?? 64, 'evalBatchSize');
  const stepSize = options.stepSize ?? xi / 10;
  if (!(stepSize > 0) || !Number.isFinite(stepSize)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${stepSize}`, 'stepSize');
  const schedule = options.schedule ?? 'cosine';
  if (schedule !== 'cosine' && schedule !== 'constant') throw new UapError('BAD_ARGUMENT', `unknown schedule ${JSON.stringify(schedule)}`, 'schedule');
  const optimizer = options.optimizer ?? 'sgd';
  if (optimizer !== 'sgd' && optimizer !== 'adam') throw new UapError('BAD_ARGUMENT', `unknown optimizer ${JSON.stringify(optimizer)}`, 'optimizer');
  const loss = options.loss ?? 'ce';
  if (loss !== 'ce' && loss !== 'margin') throw new UapError('BAD_ARGUMENT', `unknown loss ${JSON.stringify(loss)}`, 'loss');
  const kappa = options.kappa ?? 0;
  if (!(kappa >= 0) || !Number.isFinite(kappa)) throw new UapError('BAD_ARGUMENT', `must be a finite number ≥ 0, got ${kappa}`, 'kappa');
  const delta = options.delta;
  if (delta !== undefined && !(delta > 0 && delta < 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1), got ${delta}`, 'delta');
  const seed = options.seed ?? 0;
  if (!Number.isFinite(seed)) throw new UapError('BAD_ARGUMENT', `must be a finite number, got ${seed}`, 'seed');
  const clip = options.clip ?? true;
  const K = classifier.labels.ids.length;
  const target = options.target;
  if (target !== undefined && !(Number.isInteger(target) && target >= 0 && target < K)) {
    throw new UapError('BAD_ARGUMENT', `class ${target} outside 0..${K - 1}`, 'target');
  }
  const targeted = target !== undefined;
  const augment = options.augment ? checkAugment(options.augment, 'augment') : undefined;

  const source = toSource(X, 'X');
  const n = source.size;
  const shape = [...classifier.inputShape] as [number, number, number];
  const d = shape[0] * shape[1] * shape[2];
  const startPass = options.initial?.pass ?? 0;
  if (!Number.isInteger(startPass) || startPass < 0) {
    throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 0, got ${startPass}`, 'initial.pass');
  }
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
  let completed = 0;
  options.onProgress?.({ phase: 'clean', done: 0, total: n });
  const cleanPred = await predict(classifier, source, evalBatch);
  options.onProgress?.({ phase: 'clean', done: n, total: n });
  const result = (aborted: boolean): UniversalResult => ({
    v,
    shape,
    history,
    foolingRate: history.at(-1)?.foolingRate ?? Number.NaN,
    passes: startPass + completed,
    aborted,
    cleanPred,
  });

  // Optimiser state. Adam's moments restart on resume (they are not checkpointed); the schedule does not.
  const stepsPerEpoch = Math.ceil(n / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  const m1 = new Float32Array(d);
  const m2 = new Float32Array(d);
  let adamT = 0;
  const rng = createRng(seed);
  // Augmentation draws come from their own stream, so turning it on does not change the visiting order.
  const augmentRng = createRng(seed + 0x5eed);
  for (let p = 0; p < startPass; p++) {
    permutation(n, rng);
    for (let k = 0; k < 4 * n; k++) augmentRng();
  }

  for (let pass = startPass + 1; pass <= epochs; pass++) {
    const t0 = performance.now();
    const order = permutation(n, rng);
    let w = v;
    let lossSum = 0;
    let steps = 0;
    for (let start = 0; start < n; start += batchSize) {
      if (options.signal?.aborted) return result(true);
      const idx = range(start, Math.min(n, start + batchSize), order);
      const cls = targeted ? new Int32Array(idx.length).fill(target) : Int32Array.from(idx, (i) => cleanPred[i]!);
      let x = await source.get(idx);
      if (augment && !isIdentity(augment)) {
        const a = augmentImages(x, augment, augmentRng);
        x.dispose();
        x = a;
      }
      const vt = tf.tensor3d(w, shape);
      const clsT = tf.tensor1d(cls, 'int32');
      const sum = tf.add(x, vt) as tf.Tensor4D;
      const input = clip ? tf.clipByValue(sum, 0, 255) : sum;
      // clip's derivative: 1 where x + v is inside [0, 255], 0 where it is clipped. The closed interval lets
      // pure black / white pixels (x + v exactly 0 or 255, common at v = 0) pass their gradient: a step
      // inward changes them, a step outward is clipped away and costs nothing.
      const mask = clip ? tf.tidy(() => tf.logicalAnd(tf.greaterEqual(sum, 0), tf.lessEqual(sum, 255)).toFloat()) : null;
      let g: Float32Array;
      try {
        const out = await classifier.vjp(input, (z) => lossGradient(z, clsT, loss, kappa, targeted));
        const gv = tf.tidy(() => tf.sum(mask ? tf.mul(out.grad, mask) : out.grad, 0));
        g = (await gv.data()) as Float32Array;
        const z = (await out.logits.data()) as Float32Array;
        lossSum += lossValue(z, cls, K, loss, kappa, targeted) * idx.length;
        tf.dispose([gv, out.logits, out.grad]);
      } finally {
        tf.dispose([x, vt, clsT, sum, input, mask ?? []]);
      }

      // One projected descent step on J (the minimised objective): v ← P(v − α·direction(g)).
      const t = (pass - 1) * stepsPerEpoch + steps;
      const alpha = schedule === 'constant' ? stepSize : (stepSize * (1 + Math.cos((Math.PI * t) / totalSteps))) / 2;
      const next = new Float32Array(d);
      if (optimizer === 'adam') {
        const b1 = 0.9;
        const b2 = 0.999;
        adamT++;
        const c1 = 1 - b1 ** adamT;
        const c2 = 1 - b2 ** adamT;
        for (let i = 0; i < d; i++) {
          m1[i] = b1 * m1[i]! + (1 - b1) * g[i]!;
          m2[i] = b2 * m2[i]! + (1 - b2) * g[i]! * g[i]!;
          next[i] = w[i]! - (alpha * (m1[i]! / c1)) / (Math.sqrt(m2[i]! / c2) + 1e-8);
        }
      } else if (norm === 'inf') {
        for (let i = 0; i < d; i++) next[i] = w[i]! - alpha * Math.sign(g[i]!);
      } else {
        const gn = lpNorm(g, 2);
        const s = gn > 0 ? alpha / gn : 0;
        for (let i = 0; i < d; i++) next[i] = w[i]! - s * g[i]!;
      }
      w = projectLp(next, xi, norm);
      steps++;
      options.onProgress?.({ phase: 'epoch', pass, done: start + idx.length, total: n, loss: lossSum / (start + idx.length) });
    }

    const ev = await evaluatePerturbation(classifier, source, null, w, {
      clip,
      batchSize: evalBatch,
      cleanPred,
      ...(targeted ? { target } : {}),
      onProgress: (e) => options.onProgress?.({ phase: 'evaluate', pass, ...e }),
    });
    v = w;
    completed++;
    const record: PassRecord = {
      pass,
      foolingRate: ev.foolingRate,
      deepfoolCalls: 0,
      updates: steps,
      seconds: (performance.now() - t0) / 1000,
      normInf: lpNorm(v, 'inf'),
      norm2: lpNorm(v, 2),
      loss: lossSum / n,
    };
    if (targeted) record.targetSuccess = ev.targetSuccess!;
    history.push(record);
    options.onProgress?.({ phase: 'pass-end', pass, record });
    await options.onPassEnd?.(v, history);
    if (delta !== undefined && (targeted ? ev.targetSuccess! : ev.foolingRate) >= 1 - delta) break;
  }
  return result(false);
}
