import * as tf from '@tensorflow/tfjs';
import { ROW_LENGTH_FLOOR } from '../models/classifier.js';

/** The gradient attacks' per-minibatch objective J and its gradient with respect to the logits. Browser-safe. */

/** The losses the gradient attacks (sgd, sga) can use. */
export const SGD_LOSSES = ['ce', 'clamped-ce', 'margin', 'complement', 'ce-norm'] as const;
/** One of SGD_LOSSES: cross-entropy, min(CE, β), the clamped margin, the complement cross-entropy, or CE with one equal vote per image. */
export type SgdLoss = (typeof SGD_LOSSES)[number];

/**
 * Default clamp β of the clamped cross-entropy: Shafahi et al. (AAAI 2020) and SGA (Liu et al., ICCV 2023)
 * use 9–12; SGA's code uses 9. CE ≥ β means p_y ≤ e^−β ≈ 1.2·10⁻⁴: the image is fooled beyond doubt.
 */
export const DEFAULT_BETA = 9;

/**
 * ∂J/∂logits for a minibatch, where J (minimised) is the mean over the batch of
 *   untargeted: −CE(z, y)  or  −min(CE(z, y), β)  or  max(z_y − max_{k≠y} z_k, −κ)  or  −log(1 − p_y)
 *   targeted:   CE(z, t)   or  CE(z, t)            or  max(max_{k≠t} z_k − z_t, −κ)  or  CE(z, t)
 * `cls` holds y (untargeted) or t (targeted) per row. `batchSize` is the size of the whole minibatch (default:
 * the rows of z), so the rows of one shard of a minibatch weigh what they weigh in the whole.
 *
 * Clamped CE (Shafahi et al.): CE is unbounded, so a few images already fooled far beyond the boundary (CE of
 * 20, 30 …) would dominate the mean and its gradient; min(CE, β) has gradient ∂CE/∂z while CE < β and 0 once
 * CE ≥ β, so v serves the images not fooled yet. Targeted, the problem does not arise (an image sent to the
 * target has CE(z, t) → 0 and softmax − onehot → 0 by itself), so 'clamped-ce' is plain CE there.
 *
 * Complement CE, −log(1 − p_y) = −(LSE_{k≠y} z − LSE z), the cross-entropy of "any class but y": CE's gradient
 * softmax − onehot vanishes on the images the classifier is most sure of (p_y → 1), exactly the ones a universal
 * v fails on (measured on mobilenet_v1_0.75_224: the unfooled images of X had median p_y 0.986, the fooled
 * 0.874). Its gradient, q − p with q the softmax over the classes other than y (q_y = 0), has every entry in
 * [−1, 1]: about onehot_y − q for a sure image, → 0 once p_y → 0, like a smooth margin that stops pulling on
 * fooled images by itself. Targeted it is plain CE (the target's own CE does not saturate where it matters).
 *
 * ce-norm, CE with one equal vote per image: each row's CE gradient ±(softmax(z) − onehot) divided by its own
 * length, the weight held constant (a reweighting of CE's gradient, not the gradient of a loss; the reported
 * value is CE's). Why: that length is about 1 on a fooled image (p_y → 0) and about 1 − p_y on a sure one, so
 * CE's summed step mostly serves the images already fooled; with unit rows every image of the minibatch pulls
 * as hard. Measured (docs/results.md, recipe comparison): not better than CE. On mobilenet_v1_0.75_224, seed 1
 * fitted X further (93.2% fooled against CE's 89.4%) and val by half a point; seed 2 neither (89.4%, val 85.5%).
 */
export function lossGradient(
  z: tf.Tensor2D,
  cls: tf.Tensor1D,
  loss: SgdLoss,
  kappa: number,
  targeted: boolean,
  batchSize?: number,
  beta: number = DEFAULT_BETA,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [rows, K] = z.shape;
    const b = batchSize ?? rows;
    const onehot = tf.oneHot(cls, K).toFloat();
    if (loss === 'complement' && !targeted) {
      // J = LSE(z) − LSE_{k≠y}(z): ∂J/∂z = softmax(z) − softmax(z with z_y → −∞)
      const others = tf.softmax(tf.sub(z, tf.mul(onehot, 1e30)));
      return tf.div(tf.sub(tf.softmax(z), others), b) as tf.Tensor2D;
    }
    if (loss === 'ce-norm') {
      const g = tf.sub(tf.softmax(z), onehot); // ∂CE/∂z
      // a row of 0 (float32's softmax saturated at 1, a logit margin beyond ~88) stays 0 rather than 0/0
      const unit = tf.div(g, tf.maximum(tf.norm(g, 2, 1, true), ROW_LENGTH_FLOOR));
      return tf.div(targeted ? unit : tf.neg(unit), b) as tf.Tensor2D;
    }
    if (loss === 'ce' || loss === 'clamped-ce' || loss === 'complement') {
      const g = tf.sub(tf.softmax(z), onehot); // ∂CE/∂z
      if (targeted) return tf.div(g, b) as tf.Tensor2D;
      if (loss === 'ce') return tf.div(tf.neg(g), b) as tf.Tensor2D;
      // CE = logsumexp(z) − z_y; rows with CE ≥ β are clamped (gradient 0).
      const ce = tf.sub(tf.logSumExp(z, 1), tf.sum(tf.mul(z, onehot), 1));
      const active = tf.reshape(tf.less(ce, beta).toFloat(), [rows, 1]);
      return tf.div(tf.neg(tf.mul(g, active)), b) as tf.Tensor2D;
    }
    // The strongest other class k* and whether the clamp is inactive (the margin still counts).
    const other = tf.oneHot(tf.argMax(tf.sub(z, tf.mul(onehot, 1e30)), 1), K).toFloat();
    const zc = tf.sum(tf.mul(z, onehot), 1);
    const zo = tf.sum(tf.mul(z, other), 1);
    const m = targeted ? tf.sub(zo, zc) : tf.sub(zc, zo);
    const active = tf.reshape(tf.greater(m, -kappa).toFloat(), [rows, 1]);
    const g = targeted ? tf.sub(other, onehot) : tf.sub(onehot, other);
    return tf.div(tf.mul(g, active), b) as tf.Tensor2D;
  });
}

/** Mean of J (see lossGradient) on the host, for reporting. */
export function lossValue(z: Float32Array, cls: Int32Array, K: number, loss: SgdLoss, kappa: number, targeted: boolean, beta: number = DEFAULT_BETA): number {
  let s = 0;
  const b = cls.length;
  for (let i = 0; i < b; i++) {
    const row = z.subarray(i * K, (i + 1) * K);
    const c = cls[i]!;
    if (loss === 'ce' || loss === 'clamped-ce' || loss === 'complement' || loss === 'ce-norm') {
      let mx = -Infinity;
      for (const a of row) mx = Math.max(mx, a);
      let se = 0;
      for (const a of row) se += Math.exp(a - mx);
      const ce = mx + Math.log(se) - row[c]!;
      if (loss === 'complement' && !targeted) {
        let mo = -Infinity;
        for (let k = 0; k < K; k++) if (k !== c) mo = Math.max(mo, row[k]!);
        let so = 0;
        for (let k = 0; k < K; k++) if (k !== c) so += Math.exp(row[k]! - mo);
        s += mx + Math.log(se) - (mo + Math.log(so)); // LSE(z) − LSE_{k≠y}(z)
      } else s += targeted ? ce : loss === 'ce' || loss === 'ce-norm' ? -ce : -Math.min(ce, beta);
    } else {
      let other = -Infinity;
      for (let k = 0; k < K; k++) if (k !== c) other = Math.max(other, row[k]!);
      s += Math.max(targeted ? other - row[c]! : row[c]! - other, -kappa);
    }
  }
  return s / b;
}
