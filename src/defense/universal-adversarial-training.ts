import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { createRng } from '../util/rng.js';
import {
  checkProbability,
  checkTrainingSet,
  crossEntropy,
  trainLoop,
  type DefenseResult,
  type EpochEnd,
  type TrainingSet,
  type TrainLoopOptions,
} from './finetune.js';
import { trainableVariables } from './layers-model.js';

/**
 * Universal adversarial training — Shafahi, Najibi, Xu, Dickerson, Davis, Goldstein, "Universal Adversarial
 * Training", AAAI 2020 (arXiv 1811.11304), ℓ∞ with FGSM-style steps. One universal perturbation v is trained
 * alongside the weights; for every minibatch B:
 *
 * ```text
 *   v ← clip_[−ξ, ξ](v + α · sign(∇_v L(clip(B + v))))      (ascent on v: a stronger universal perturbation)
 *   θ ← optimiser step on L(clip(B' + v))                    (descent on the weights, against that v)
 * ```
 *
 * where L is the mean softmax cross-entropy and B' perturbs each image with probability `probability`
 * (default 1: every image, as in the paper; ½ mixes clean and perturbed like the fine-tuning defence).
 * With `simultaneous` both gradients come from one forward/backward pass at the current v (the paper's
 * cheaper "free" form, half the cost); by default the weight step sees the updated v.
 * Browser-safe; the model is updated in place.
 */
export interface UatOptions extends TrainLoopOptions {
  /** ℓ∞ radius ξ of v, pixel units. */
  xi: number;
  /** Ascent step α on v (default ξ / 10). */
  stepSize?: number;
  /** Probability that an image of a minibatch is trained on with v added (default 1). */
  probability?: number;
  /** Start from this v (HWC, pixel units; default 0). */
  initial?: Float32Array;
  /** One pass for both gradients (default false). */
  simultaneous?: boolean;
}

/** What universal adversarial training did, with the perturbation it trained against. */
export interface UatResult extends DefenseResult {
  /** The universal perturbation trained alongside (HWC, pixel units). */
  v: Float32Array;
}

/**
 * Universal adversarial training (see UatOptions): trains `model` in place against a universal perturbation that is
 * updated on every minibatch.
 */
export async function universalAdversarialTraining(model: tf.LayersModel, data: TrainingSet, opts: UatOptions): Promise<UatResult> {
  const K = checkTrainingSet(model, data);
  const xi = opts.xi;
  if (!(Number.isFinite(xi) && xi > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${xi}`, 'xi');
  const alpha = opts.stepSize ?? xi / 10;
  if (!(Number.isFinite(alpha) && alpha > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${alpha}`, 'stepSize');
  const probability = checkProbability(opts.probability ?? 1, 'probability');
  const lr = opts.learningRate ?? 1e-4;
  if (!opts.optimizer && !(lr > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${lr}`, 'learningRate');
  const clip = opts.clip ?? true;
  const [h, w, c] = data.shape;
  const size = h * w * c;
  if (opts.initial && opts.initial.length !== size) {
    throw new UapError('BAD_ARGUMENT', `has ${opts.initial.length} values, the images ${h}×${w}×${c}`, 'initial');
  }
  const rng = createRng(opts.seed ?? 0);
  const optimizer = opts.optimizer ?? tf.train.adam(lr);
  const vars = trainableVariables(model);
  const v0 = tf.tidy(() => tf.clipByValue(opts.initial ? tf.tensor3d(opts.initial, [h, w, c]) : tf.zeros([h, w, c]), -xi, xi));
  const v = tf.variable(v0, true, `uat_v_${Math.random().toString(36).slice(2)}`);
  v0.dispose();
  let mask = new Float32Array(0);
  const training = opts.training ?? true;

  const perturb = (x: tf.Tensor4D, vv: tf.Tensor, m?: tf.Tensor): tf.Tensor4D => {
    const s = tf.add(x, m ? tf.mul(m, vv) : vv) as tf.Tensor4D;
    return clip ? tf.clipByValue(s, 0, 255) : s;
  };
  const ascend = (g: tf.Tensor) => v.assign(tf.clipByValue(tf.add(v, tf.mul(alpha, tf.sign(g))), -xi, xi) as tf.Tensor3D);

  const step = (x: tf.Tensor4D, y: tf.Tensor2D): tf.Scalar => {
    const m = tf.tensor4d(mask, [mask.length, 1, 1, 1]);
    if (opts.simultaneous) {
      const { value, grads } = tf.variableGrads(() => crossEntropy(model, perturb(x, v, m), y, training), [...vars, v]);
      const gv = grads[v.name]!;
      delete grads[v.name];
      optimizer.applyGradients(grads);
      ascend(gv);
      return value;
    }
    const gv = tf.grad((vv: tf.Tensor) => crossEntropy(model, perturb(x, vv), y, training))(v);
    ascend(gv);
    return optimizer.minimize(() => crossEntropy(model, perturb(x, v, m), y, training), true, vars)!;
  };

  try {
    // The checkpoint hook also gets v (resume passes it back as `initial`).
    const onEpochEnd = opts.onEpochEnd && (async (e: EpochEnd) => opts.onEpochEnd!({ ...e, v: (await v.data()) as Float32Array }));
    const result = await trainLoop(
      data,
      { ...opts, onEpochEnd },
      rng,
      step,
      K,
      (idx, out) => {
        mask = new Float32Array(idx.length);
        let perturbed = 0;
        idx.forEach((i, j) => {
          out.set(data.images.subarray(i * size, (i + 1) * size), j * size);
          if (probability >= 1 || rng() < probability) {
            mask[j] = 1;
            perturbed++;
          }
        });
        return perturbed;
      },
      (record) => {
        record.normInf = tf.tidy(() => tf.max(tf.abs(v)).dataSync()[0]!);
      },
    );
    return { ...result, v: (await v.data()) as Float32Array };
  } finally {
    v.dispose();
    if (!opts.optimizer) optimizer.dispose();
  }
}
