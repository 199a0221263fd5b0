import type * as tf from '@tensorflow/tfjs';
import type { Net } from './ir.js';

/**
 * Reverse-mode input gradients through one recorded forward pass (values from forwardValues(net, x, true)).
 *
 * `upstream` is [N * k, K]: k upstream gradients per image, row i * k + j belonging to image i.
 * Returns ∂/∂x of Σ upstream ⊙ logits, per row: [N * k, H, W, C]. Computes no filter or bias gradients.
 *
 * STUB: implemented by the gradient-engine work (issue 3).
 */
export function backwardNet(
  net: Net,
  values: (tf.Tensor | undefined)[],
  upstream: tf.Tensor2D,
  k: number,
): tf.Tensor4D {
  void net;
  void values;
  void upstream;
  void k;
  throw new Error('backwardNet: not implemented yet');
}
