import * as tf from '@tensorflow/tfjs';
import type { Activation } from './activation.js';
import { mulRepeated } from './repeat_rows.js';

/**
 * Derivative of an activation, computed from its OUTPUT y (the pre-activation is not kept):
 * relu: y > 0; relu6: 0 < y < 6; leaky (alpha ≥ 0): y > 0 ? 1 : alpha. At the kinks this agrees with
 * TF (relu'(0) = 0); relu6 at exactly x = 6 gives 0 where tfjs's stock gradient gives 1 (measure zero).
 * Returns undefined for 'linear'.
 */
export function activationDerivative(y: tf.Tensor, a: Activation): tf.Tensor | undefined {
  if (a === 'linear') return undefined;
  return tf.tidy(() => {
    if (a === 'relu') return tf.step(y);
    if (a === 'relu6') return tf.mul(tf.step(y), tf.step(tf.sub(6, y)));
    const alpha = a.leakyAlpha;
    if (alpha < 0) throw new Error('leaky ReLU with a negative slope cannot be differentiated from its output');
    return tf.add(tf.mul(tf.step(y), 1 - alpha), alpha);
  });
}

/** dy [N·k, ...] ⊙ act'(y [N, ...]) with k upstream rows per image. */
export function activationGrad(dy: tf.Tensor, y: tf.Tensor, a: Activation, k: number): tf.Tensor {
  if (a === 'linear') return dy.clone();
  return tf.tidy(() => mulRepeated(dy, activationDerivative(y, a)!, k));
}
