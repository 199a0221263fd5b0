import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import type { Classifier } from './classifier.js';
import type { Labels } from './labels.js';

/**
 * Several classifiers attacked as one, so that one perturbation fools all of them (and, one hopes, classifiers
 * nobody tried: Liu et al., "Delving into transferable adversarial examples", ICLR 2017).
 *
 * Each member keeps its own preprocessing (it is inside the member), so the ensemble takes pixels like any
 * Classifier. The objective is the SUM of the members' losses: vjp(x, upstream) = Σ_m vjp_m(x, upstream), the
 * upstream (the attack's loss gradient, with the attack's classes: for an untargeted attack the ensemble's clean
 * top-1) applied to each member's own logits. logits() is the mean of the members'
 * logits (what the fooling rate and the clean labels are measured on), and jacobian() the mean of theirs, which is
 * its exact Jacobian. Members must share the input shape and the label space (the four 224×224 ImageNet models of
 * the zoo do); the ensemble does not own them: dispose() frees them all.
 */
export class EnsembleClassifier implements Classifier {
  readonly id: string;
  readonly inputShape: readonly [number, number, number];
  readonly labels: Labels;

  constructor(readonly members: readonly Classifier[]) {
    if (members.length === 0) throw new UapError('BAD_ARGUMENT', 'an ensemble needs at least one model', 'model');
    const [first] = members as [Classifier];
    for (const m of members) {
      if (m.inputShape.some((d, i) => d !== first.inputShape[i])) {
        throw new UapError('BAD_ARGUMENT', `${m.id} takes ${m.inputShape.join('×')} inputs, ${first.id} ${first.inputShape.join('×')}: ensemble members must share the input size`, 'model');
      }
      if (m.labels.ids.length !== first.labels.ids.length || m.labels.ids.some((id, i) => id !== first.labels.ids[i])) {
        throw new UapError('BAD_ARGUMENT', `${m.id} and ${first.id} have different label spaces`, 'model');
      }
    }
    this.id = members.map((m) => m.id).join('+');
    this.inputShape = first.inputShape;
    this.labels = first.labels;
  }

  get backend(): string {
    return this.members[0]!.backend;
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    const all = await Promise.all(this.members.map((m) => m.logits(x)));
    const mean = tf.tidy(() => tf.div(tf.addN(all), all.length) as tf.Tensor2D);
    tf.dispose(all);
    return mean;
  }

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const all: { logits: tf.Tensor2D; grads: tf.Tensor5D }[] = [];
    for (const m of this.members) all.push(await m.jacobian(x, classes));
    const out = tf.tidy(() => ({
      logits: tf.div(tf.addN(all.map((a) => a.logits)), all.length) as tf.Tensor2D,
      grads: tf.div(tf.addN(all.map((a) => a.grads)), all.length) as tf.Tensor5D,
    }));
    tf.dispose(all.flatMap((a) => [a.logits, a.grads]));
    return out;
  }

  async vjp(x: tf.Tensor4D, upstream: (logits: tf.Tensor2D) => tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    const all: { logits: tf.Tensor2D; grad: tf.Tensor4D }[] = [];
    for (const m of this.members) all.push(await m.vjp(x, upstream));
    const out = tf.tidy(() => ({
      logits: tf.div(tf.addN(all.map((a) => a.logits)), all.length) as tf.Tensor2D,
      grad: tf.addN(all.map((a) => a.grad)) as tf.Tensor4D,
    }));
    tf.dispose(all.flatMap((a) => [a.logits, a.grad]));
    return out;
  }

  dispose(): void {
    for (const m of this.members) m.dispose();
  }
}
