import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import type { Classifier } from './classifier.js';
import type { Labels } from './labels.js';
import { backwardNet } from './net/backward.js';
import { forwardValues, runNet } from './net/forward.js';
import { disposeNet, type Net } from './net/ir.js';

/**
 * A Classifier over a Net, on the current tfjs backend. Every loader ends here.
 * jacobian and vjp run one recorded forward (forwardValues, keepAll) and one reverse pass of the
 * gradient engine (net/backward.ts) with k upstream rows per image; no weight gradients are computed.
 */
export class NetClassifier implements Classifier {
  readonly inputShape: readonly [number, number, number];

  constructor(
    readonly id: string,
    readonly net: Net,
    readonly labels: Labels,
  ) {
    this.inputShape = net.inputShape;
  }

  get backend(): string {
    return tf.getBackend();
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    return runNet(this.net, x);
  }

  /**
   * Gradient rows (images × k) per reverse pass: larger batches are run in chunks of whole images, so
   * that memory stays bounded (a 32-image, 10-class DeepFool step would otherwise hold 320 rows of
   * first-layer gradients) and the working set stays cache-sized. 0 = never chunk.
   */
  rowsPerPass = 64;

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, k] = classes.shape;
    if (n !== x.shape[0]) throw new UapError('BAD_ARGUMENT', `classes has ${n} rows for ${x.shape[0]} images`, 'classes');
    if (k < 1) throw new UapError('BAD_ARGUMENT', 'at least one class per image is needed', 'classes');
    const per = this.rowsPerPass > 0 ? Math.max(1, Math.floor(this.rowsPerPass / k)) : n;
    if (n <= per) return this.jacobianPass(x, classes);
    const logits: tf.Tensor2D[] = [];
    const grads: tf.Tensor5D[] = [];
    try {
      for (let i = 0; i < n; i += per) {
        const m = Math.min(per, n - i);
        const xs = tf.slice(x, [i, 0, 0, 0], [m, -1, -1, -1]);
        const cs = tf.slice(classes, [i, 0], [m, k]);
        try {
          const r = this.jacobianPass(xs, cs);
          logits.push(r.logits);
          grads.push(r.grads);
        } finally {
          tf.dispose([xs, cs]);
        }
      }
      return { logits: tf.concat(logits, 0), grads: tf.concat(grads, 0) };
    } finally {
      tf.dispose([...logits, ...grads]);
    }
  }

  /** One forward and one reverse pass for all of x. */
  private jacobianPass(x: tf.Tensor4D, classes: tf.Tensor2D): { logits: tf.Tensor2D; grads: tf.Tensor5D } {
    const [n, k] = classes.shape;
    const K = this.labels.ids.length;
    return tf.tidy(() => {
      const values = forwardValues(this.net, x, true);
      const logits = values[this.net.output] as tf.Tensor2D;
      const upstream = tf.oneHot(tf.reshape(classes, [n * k]).toInt(), K).toFloat() as tf.Tensor2D;
      const g = backwardNet(this.net, values, upstream, k);
      const [h, w, c] = this.inputShape;
      return { logits, grads: tf.reshape(g, [n, k, h, w, c]) as tf.Tensor5D };
    });
  }

  async vjp(
    x: tf.Tensor4D,
    upstream: (logits: tf.Tensor2D) => tf.Tensor2D,
  ): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    return tf.tidy(() => {
      const values = forwardValues(this.net, x, true);
      const logits = values[this.net.output] as tf.Tensor2D;
      const grad = backwardNet(this.net, values, upstream(logits), 1);
      return { logits, grad };
    });
  }

  /** Frees the weight tensors of the net. */
  dispose(): void {
    disposeNet(this.net);
  }
}
