import * as tf from '@tensorflow/tfjs';

/** The SGD attack's per-minibatch objective J and its gradient with respect to the logits. Browser-safe. */

/**
 * ∂J/∂logits for a minibatch, where J (minimised) is the mean over the batch of
 *   untargeted: −CE(z, y)  or  max(z_y − max_{k≠y} z_k, −κ)
 *   targeted:   CE(z, t)   or  max(max_{k≠t} z_k − z_t, −κ)
 * `cls` holds y (untargeted) or t (targeted) per row. `batchSize` is the size of the whole minibatch (default:
 * the rows of z), so the rows of one shard of a minibatch weigh what they weigh in the whole.
 */
export function lossGradient(
  z: tf.Tensor2D,
  cls: tf.Tensor1D,
  loss: 'ce' | 'margin',
  kappa: number,
  targeted: boolean,
  batchSize?: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [rows, K] = z.shape;
    const b = batchSize ?? rows;
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
    const active = tf.reshape(tf.greater(m, -kappa).toFloat(), [rows, 1]);
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
