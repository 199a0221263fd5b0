import type * as tf from '@tensorflow/tfjs';
import type { Labels } from './labels.js';

/**
 * The one contract every attack and evaluation works against.
 *
 * - Inputs are always pixels: float32 NHWC in 0..255. Preprocessing lives inside the classifier,
 *   so a perturbation (and ξ) means the same thing for every model.
 * - Outputs are logits (pre-softmax), in the label space `labels` (ImageNet: standard wnid order).
 * - Methods are async so that a classifier may run on worker threads; the caller owns every
 *   tensor returned and keeps ownership of the tensors it passes in.
 */
export interface Classifier {
  readonly id: string;
  /** [H, W, C] of one input image. */
  readonly inputShape: readonly [number, number, number];
  readonly labels: Labels;
  /** Which tfjs backend runs it (recorded in perturbation.json). */
  readonly backend: string;

  /** Logits [N, numClasses] for pixels x [N, H, W, C]. */
  logits(x: tf.Tensor4D): Promise<tf.Tensor2D>;

  /**
   * Gradients of k chosen logits per image with respect to the input, from one forward pass.
   * `classes` is int32 [N, k]; grads[i, j] = ∂ logits[i, classes[i, j]] / ∂ x[i]: shape [N, k, H, W, C].
   * Also returns the logits of that forward pass (DeepFool needs both).
   */
  jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }>;

  /**
   * Vector-Jacobian product: one forward, one backward. `upstream` maps the logits [N, K] to the
   * gradient of a loss with respect to them ([N, K]); returns the logits and ∂loss/∂x [N, H, W, C].
   * Losses such as cross-entropy or a margin are written this way (SGD attacks).
   */
  vjp(
    x: tf.Tensor4D,
    upstream: (logits: tf.Tensor2D) => tf.Tensor2D,
  ): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }>;

  /** Frees the model's weights; the classifier cannot be used afterwards. */
  dispose(): void;
}

/** The number of classes (logits) of a classifier. */
export function numClasses(c: Classifier): number {
  return c.labels.ids.length;
}
