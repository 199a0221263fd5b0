import * as tf from '@tensorflow/tfjs';

/**
 * dy [N·k, ...] times m [N, ...] broadcast over the k rows of each image (a mask or a per-image factor),
 * without materialising the repeated m.
 */
export function mulRepeated(dy: tf.Tensor, m: tf.Tensor, k: number): tf.Tensor {
  if (k === 1) return tf.mul(dy, m);
  return tf.tidy(() => {
    const n = m.shape[0]!;
    const rest = m.shape.slice(1);
    const prod = tf.mul(tf.reshape(dy, [n, k, ...rest]), tf.reshape(m, [n, 1, ...rest]));
    return tf.reshape(prod, dy.shape);
  });
}
