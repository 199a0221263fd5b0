import * as tf from '@tensorflow/tfjs';
import { linearResize, linearResizeAdjoint } from '../data/linear-resize.js';
import { UapError } from '../errors.js';
import { hasPerturbationGradient, type Classifier, type PerturbationGradient } from './classifier.js';
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
 * its exact Jacobian.
 *
 * Members may take different input sizes (a 192-pixel MobileNet beside 224-pixel ones): the ensemble's input, and
 * so v, is the largest member's, and a smaller member sees x + v resized to its own input by R, the library's photo
 * resize as a linear map (data/linear-resize.ts). Its part of the gradient is Rᵀ of its own: ∂J_m(R x)/∂x =
 * Rᵀ ∂J_m/∂(R x), exact. So v is trained through the resampling a smaller classifier applies, which is also
 * what a photo's own resize does to v. Members must share the channels and the label space (the zoo's ImageNet
 * models all map theirs to the 1000 standard classes); the ensemble does not own them: dispose() frees them all.
 */
export class EnsembleClassifier implements Classifier {
  readonly id: string;
  readonly inputShape: readonly [number, number, number];
  readonly labels: Labels;
  /**
   * The members' perturbation gradients summed (the same sum as vjp's), with the mean of their logits: present
   * when every member has the capability and takes the ensemble's input size (a resized member sees R·clip(x + v),
   * which its graph does not compute; the attacks then use vjp).
   */
  readonly perturbationGradient?: PerturbationGradient['perturbationGradient'];

  constructor(readonly members: readonly Classifier[]) {
    if (members.length === 0) throw new UapError('BAD_ARGUMENT', 'an ensemble needs at least one model', 'model');
    const [first] = members as [Classifier];
    // v lives at the largest member's size (the most pixels; the first such member on a tie).
    const largest = members.reduce((a, m) => (m.inputShape[0] * m.inputShape[1] > a.inputShape[0] * a.inputShape[1] ? m : a), first);
    for (const m of members) {
      if (m.inputShape[2] !== largest.inputShape[2]) {
        throw new UapError('BAD_ARGUMENT', `${m.id} takes ${m.inputShape[2]}-channel inputs, ${largest.id} ${largest.inputShape[2]}: ensemble members must share the channels`, 'model');
      }
      const a = m.labels.ids;
      const b = first.labels.ids;
      const k = a.findIndex((id, i) => id !== b[i]);
      if (a.length !== b.length || k >= 0) {
        const where = a.length !== b.length ? `${a.length} vs ${b.length} classes` : `class ${k} is ${a[k]} vs ${b[k]}`;
        throw new UapError('BAD_ARGUMENT', `${m.id} and ${first.id} have different label spaces (${where}): ensemble members must label the same classes in the same order`, 'model');
      }
    }
    this.id = members.map((m) => m.id).join('+');
    this.inputShape = largest.inputShape;
    this.labels = first.labels;
    const [H, W] = this.inputShape;
    const direct = members.filter(hasPerturbationGradient).filter((m) => m.inputShape[0] === H && m.inputShape[1] === W);
    if (direct.length === members.length) {
      this.perturbationGradient = async (x, v, cls, objective) => {
        const all = [];
        for (const m of direct) all.push(await m.perturbationGradient(x, v, cls, objective));
        const grad = new Float32Array(v.length);
        const logits = new Float32Array(all[0]!.logits.length);
        for (const r of all) {
          for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! + r.grad[i]!;
          for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! + r.logits[i]! / all.length;
        }
        return { grad, logits };
      };
    }
  }

  /** x (at the ensemble's size) as member m sees it: resized to m's input when that is smaller. */
  private inputOf(m: Classifier, x: tf.Tensor4D): tf.Tensor4D {
    const [h, w] = m.inputShape;
    return h === x.shape[1] && w === x.shape[2] ? x : linearResize(x, h, w);
  }

  /** A gradient at member m's input size taken back to the ensemble's (the adjoint of inputOf; disposes g when it resizes). */
  private backOf(g: tf.Tensor4D): tf.Tensor4D {
    const [H, W] = this.inputShape;
    if (g.shape[1] === H && g.shape[2] === W) return g;
    const out = linearResizeAdjoint(g, H, W);
    g.dispose();
    return out;
  }

  /** Runs f on each member with its own view of x, one member at a time. */
  private async each<T>(x: tf.Tensor4D, f: (m: Classifier, xm: tf.Tensor4D) => Promise<T>): Promise<T[]> {
    const out: T[] = [];
    for (const m of this.members) {
      const xm = this.inputOf(m, x);
      try {
        out.push(await f(m, xm));
      } finally {
        if (xm !== x) xm.dispose();
      }
    }
    return out;
  }

  get backend(): string {
    return this.members[0]!.backend;
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    const views = this.members.map((m) => this.inputOf(m, x));
    const all = await Promise.all(this.members.map((m, i) => m.logits(views[i]!))).finally(() => tf.dispose(views.filter((v) => v !== x)));
    const mean = tf.tidy(() => tf.div(tf.addN(all), all.length) as tf.Tensor2D);
    tf.dispose(all);
    return mean;
  }

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, H, W, C] = x.shape;
    const all = await this.each(x, async (m, xm) => {
      const r = await m.jacobian(xm, classes);
      if (xm === x) return r;
      const [, k, h, w] = r.grads.shape;
      const flat = tf.reshape(r.grads, [n * k, h, w, C]) as tf.Tensor4D;
      r.grads.dispose();
      const back = this.backOf(flat);
      const grads = tf.reshape(back, [n, k, H, W, C]) as tf.Tensor5D;
      back.dispose(); // reshape shares the data
      return { logits: r.logits, grads };
    });
    const out = tf.tidy(() => ({
      logits: tf.div(tf.addN(all.map((a) => a.logits)), all.length) as tf.Tensor2D,
      grads: tf.div(tf.addN(all.map((a) => a.grads)), all.length) as tf.Tensor5D,
    }));
    tf.dispose(all.flatMap((a) => [a.logits, a.grads]));
    return out;
  }

  async vjp(x: tf.Tensor4D, upstream: (logits: tf.Tensor2D) => tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    const all = await this.each(x, async (m, xm) => {
      const r = await m.vjp(xm, upstream);
      return { logits: r.logits, grad: this.backOf(r.grad) };
    });
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
