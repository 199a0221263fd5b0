import * as tf from '@tensorflow/tfjs';

/**
 * x [N, ...] → [N·k, ...] with row i·k + j = x[i] (each row repeated k times, in place), as a gather
 * along the batch axis (the wasm Tile kernel is about 10× slower for this).
 */
export function repeatRows<T extends tf.Tensor>(x: T, k: number): T {
  if (k === 1) return x.clone();
  const n = x.shape[0]!;
  return tf.tidy(() => {
    const idx = new Int32Array(n * k);
    for (let i = 0; i < n * k; i++) idx[i] = Math.floor(i / k);
    return tf.gather(x, tf.tensor1d(idx, 'int32'), 0) as T;
  });
}

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
