import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../../models/classifier.js';
import type { Labels } from '../../models/labels.js';
import { gaussianArray, type Rng } from '../../util/rng.js';

/**
 * Test classifiers with known geometry (browser-safe: tfjs ops only).
 *
 * AffineClassifier: logits = W·x + b with W [K, D], D = H·W·C. Its decision boundaries are
 * hyperplanes, so DeepFool's minimal perturbation has a closed form and its jacobian is exact.
 */
export class AffineClassifier implements Classifier {
  readonly labels: Labels;
  /** W [K, D] and b [K] as given (float32). */
  readonly w: tf.Tensor2D;
  readonly b: tf.Tensor1D;

  constructor(
    readonly inputShape: readonly [number, number, number],
    w: Float32Array | number[],
    b: Float32Array | number[],
    readonly id = 'affine',
  ) {
    const k = b.length;
    const d = inputShape[0] * inputShape[1] * inputShape[2];
    if (w.length !== k * d) throw new Error(`W must have K·D = ${k * d} entries, got ${w.length}`);
    this.w = tf.tensor2d(w, [k, d]);
    this.b = tf.tensor1d(b);
    const ids = Array.from({ length: k }, (_, i) => String(i));
    this.labels = { ids, names: ids };
  }

  get backend(): string {
    return tf.getBackend();
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    return tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], -1]), this.w, false, true), this.b) as tf.Tensor2D);
  }

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, k] = classes.shape;
    const [h, w, c] = this.inputShape;
    const logits = await this.logits(x);
    // ∂(W·x + b)_j / ∂x = W_j, whatever x is.
    const grads = tf.tidy(() => tf.reshape(tf.gather(this.w, tf.reshape(classes, [n * k]).toInt()), [n, k, h, w, c]));
    return { logits, grads: grads as tf.Tensor5D };
  }

  async vjp(
    x: tf.Tensor4D,
    upstream: (logits: tf.Tensor2D) => tf.Tensor2D,
  ): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    const logits = await this.logits(x);
    const grad = tf.tidy(() => tf.reshape(tf.matMul(upstream(logits), this.w), x.shape) as tf.Tensor4D);
    return { logits, grad };
  }

  dispose(): void {
    tf.dispose([this.w, this.b]);
  }
}

/**
 * Nearest-centroid classifier as an affine map: logits_k = μ_k·x − ‖μ_k‖²/2 (the Bayes rule for
 * Gaussian clusters with a shared isotropic covariance and equal priors).
 */
export function centroidClassifier(inputShape: readonly [number, number, number], means: Float32Array[]): AffineClassifier {
  const d = inputShape[0] * inputShape[1] * inputShape[2];
  const w = new Float32Array(means.length * d);
  const b = new Float32Array(means.length);
  means.forEach((m, k) => {
    w.set(m, k * d);
    let s = 0;
    for (let i = 0; i < d; i++) s += m[i]! * m[i]!;
    b[k] = -s / 2;
  });
  return new AffineClassifier(inputShape, w, b, 'centroid');
}

/**
 * A small nonlinear classifier: logits = W2·relu(W1·(x/255 − ½) + b1) + b2, random weights from
 * `rng`. Gradients come from tf.grad (one backward pass per requested class), so it checks that
 * attacks make no assumption of linearity. Meant for the cpu backend and tiny inputs.
 */
export class MlpClassifier implements Classifier {
  readonly labels: Labels;
  readonly id = 'mlp';
  private readonly params: tf.Tensor[];
  private readonly w1: tf.Tensor2D;
  private readonly b1: tf.Tensor1D;
  private readonly w2: tf.Tensor2D;
  private readonly b2: tf.Tensor1D;

  constructor(
    readonly inputShape: readonly [number, number, number],
    hidden: number,
    classes: number,
    rng: Rng,
  ) {
    const d = inputShape[0] * inputShape[1] * inputShape[2];
    // He-style scaling so that logits are O(1)–O(10) for inputs spread over 0..255.
    this.w1 = tf.tensor2d(gaussianArray(d * hidden, rng, 0, Math.sqrt(2 / d) * 4), [d, hidden]);
    this.b1 = tf.tensor1d(gaussianArray(hidden, rng, 0, 0.1));
    this.w2 = tf.tensor2d(gaussianArray(hidden * classes, rng, 0, Math.sqrt(2 / hidden) * 2), [hidden, classes]);
    this.b2 = tf.tensor1d(gaussianArray(classes, rng, 0, 0.1));
    this.params = [this.w1, this.b1, this.w2, this.b2];
    const ids = Array.from({ length: classes }, (_, i) => String(i));
    this.labels = { ids, names: ids };
  }

  get backend(): string {
    return tf.getBackend();
  }

  private forward(x: tf.Tensor4D): tf.Tensor2D {
    const flat = tf.sub(tf.div(tf.reshape(x, [x.shape[0], -1]), 255), 0.5);
    return tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(flat, this.w1), this.b1)), this.w2), this.b2);
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    return tf.tidy(() => this.forward(x));
  }

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, k] = classes.shape;
    const K = this.labels.ids.length;
    return tf.tidy(() => {
      const logits = this.forward(x);
      const per: tf.Tensor4D[] = [];
      for (let j = 0; j < k; j++) {
        // Images are independent, so the gradient of Σ_i logits[i, c_ij] w.r.t. x is row-wise ∂logits[i, c_ij]/∂x_i.
        const pick = tf.oneHot(tf.reshape(tf.slice(classes, [0, j], [n, 1]), [n]).toInt(), K).toFloat();
        per.push(tf.grad((xx) => tf.sum(tf.mul(this.forward(xx as tf.Tensor4D), pick)))(x) as tf.Tensor4D);
      }
      return { logits, grads: tf.stack(per, 1) as tf.Tensor5D };
    });
  }

  async vjp(
    x: tf.Tensor4D,
    upstream: (logits: tf.Tensor2D) => tf.Tensor2D,
  ): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    return tf.tidy(() => {
      const logits = this.forward(x);
      const up = upstream(logits); // a constant inside the tf.grad closure below
      const grad = tf.grad((xx) => tf.sum(tf.mul(this.forward(xx as tf.Tensor4D), up)))(x) as tf.Tensor4D;
      return { logits, grad };
    });
  }

  dispose(): void {
    tf.dispose(this.params);
  }
}
