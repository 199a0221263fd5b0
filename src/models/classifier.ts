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

/** ce-norm's floor under a row's length (a normal float32): a row of zeros divides to zeros, not 0/0. */
export const ROW_LENGTH_FLOOR = 1e-30;

/**
 * The gradient attacks' objective J of one image's logits z, with y its clean label (untargeted) or t the
 * target; J is minimised (attacks/sgd-loss.ts derives each case):
 *   untargeted: −CE(z, y), −min(CE(z, y), β), max(z_y − max_{k≠y} z_k, −κ), or −log(1 − p_y);
 *   targeted:    CE(z, t),  CE(z, t),         max(max_{k≠t} z_k − z_t, −κ), or CE(z, t);
 * or ce-norm: CE's, with each image's gradient ∂J_i/∂z_i scaled to unit length (a reweighting, not a loss).
 */
export interface LogitObjective {
  readonly loss: 'ce' | 'clamped-ce' | 'margin' | 'complement' | 'ce-norm';
  readonly targeted: boolean;
  /** clamped-ce's β */
  readonly beta: number;
  /** margin's κ */
  readonly kappa: number;
}

/**
 * An optional capability (feature-tested, `'perturbationGradient' in c`): the gradient of a universal
 * perturbation's objective over a batch in one call,
 *   grad = Σ_i ∂J(z(clip(x_i + v)), cls_i)/∂v   (HWC; the clip's derivative is 1 on the closed interval [0, 255]),
 * and the logits z(clip(x_i + v)) for reporting J. It equals what an attack computes with vjp and an upstream
 * function, but lets an engine keep the loss inside its own graph: ONNX Runtime would otherwise run the forward
 * twice (once for the logits the host's upstream function reads, once inside the gradient graph) and move the
 * per-image gradients out only to sum them.
 */
export interface PerturbationGradient {
  /**
   * Σ_i ∂J(z(clip(x_i + v)), cls_i)/∂v (HWC, unscaled: J's mean over a minibatch is the caller's division) and the
   * logits [N·K] at clip(x_i + v). `cls` holds each image's clean label (untargeted) or the target; with
   * `objective.clip` false, x + v is not clipped.
   */
  perturbationGradient(
    x: tf.Tensor4D,
    v: Float32Array,
    cls: Int32Array,
    objective: LogitObjective & { readonly clip: boolean },
  ): Promise<{ grad: Float32Array; logits: Float32Array }>;
}

/**
 * An optional capability (feature-tested, see {@link hasPerturbedLogits}): the logits of clip(x_i + v) (of x_i + v
 * with `clip` false) for a batch, with the sum and the clip done by the engine. It equals `logits` of that sum;
 * the ORT engine does it inside its graph, where the host would otherwise add and clip [N, H, W, C] on one thread
 * before every fooling-rate forward.
 */
export interface PerturbedLogits {
  /** Logits [N, K] of clip(x_i + v); v is HWC pixels. */
  perturbedLogits(x: tf.Tensor4D, v: Float32Array, clip: boolean): Promise<tf.Tensor2D>;
}

/** Whether a classifier has the {@link PerturbedLogits} capability. */
export function hasPerturbedLogits(c: Classifier): c is Classifier & PerturbedLogits {
  return typeof (c as Partial<PerturbedLogits>).perturbedLogits === 'function';
}

/** Whether a classifier has the {@link PerturbationGradient} capability. */
export function hasPerturbationGradient(c: Classifier): c is Classifier & PerturbationGradient {
  return typeof (c as Partial<PerturbationGradient>).perturbationGradient === 'function';
}
