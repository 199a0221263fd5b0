import * as tf from '@tensorflow/tfjs';

/**
 * Gradient of out[:, j] = in[:, indices[j]] (in [B, K]) given dy [B, J]: scatter back, summing duplicates.
 * Without duplicate indices this is one gather from dy with a zero column appended (for classes that
 * were dropped, e.g. a background class); with duplicates, a product with the 0/1 matrix P[j, indices[j]].
 */
export function gatherOutputsGrad(dy: tf.Tensor2D, indices: Int32Array, K: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, J] = dy.shape;
    const inv = new Int32Array(K).fill(J);
    let duplicates = false;
    for (let j = 0; j < indices.length; j++) {
      const m = indices[j]!;
      if (m < 0 || m >= K) throw new Error(`gatherOutputs index ${m} out of range [0, ${K})`);
      if (inv[m] !== J) duplicates = true;
      inv[m] = j;
    }
    if (!duplicates) {
      const padded = tf.concat([dy, tf.zeros([b, 1])], 1);
      return tf.gather(padded, tf.tensor1d(inv, 'int32'), 1) as tf.Tensor2D;
    }
    const p = new Float32Array(J * K);
    for (let j = 0; j < J; j++) p[j * K + indices[j]!] += 1;
    return tf.matMul(dy, tf.tensor2d(p, [J, K]));
  });
}
