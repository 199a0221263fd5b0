import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { MlpClassifier } from '../attacks/testing/affine-classifier.js';
import { lossGradient } from '../attacks/sgd-loss.js';
import { resampleFloat } from '../data/resample.js';
import { createRng, gaussianArray } from '../util/rng.js';
import type { Classifier } from './classifier.js';
import { EnsembleClassifier } from './ensemble.js';

await tf.setBackend('cpu');
const SHAPE = [4, 4, 3] as const;
const a = new MlpClassifier(SHAPE, 8, 5, createRng(1));
const b = new MlpClassifier(SHAPE, 12, 5, createRng(2));
const x = tf.tensor4d(gaussianArray(3 * 48, createRng(3), 128, 40), [3, ...SHAPE]);
const cls = tf.tensor1d([0, 3, 4], 'int32');

test('the ensemble loss is the sum of the members’ losses: its gradient = a’s + b’s, and = autodiff of J(a) + J(b)', async () => {
  const e = new EnsembleClassifier([a, b]);
  const up = (z: tf.Tensor2D) => lossGradient(z, cls, 'ce', 0, false, 3);
  const [ge, ga, gb] = await Promise.all([e.vjp(x, up), a.vjp(x, up), b.vjp(x, up)]);
  const sum = tf.add(ga.grad, gb.grad);
  const diff = tf.max(tf.abs(tf.sub(ge.grad, sum))).dataSync()[0]!;
  assert.ok(diff < 1e-5 * (tf.max(tf.abs(sum)).dataSync()[0]! + 1), `vjp: ${diff}`);
  // Reference by autodiff on the members' own forward passes: ∂/∂x [mean CE(a(x)) + mean CE(b(x))] (untargeted: −CE).
  const J = (m: MlpClassifier) => (xx: tf.Tensor) => tf.neg(tf.losses.softmaxCrossEntropy(tf.oneHot(cls, 5), (m as unknown as { forward(x: tf.Tensor4D): tf.Tensor2D }).forward(xx as tf.Tensor4D)));
  const ref = tf.grad((xx) => tf.add(J(a)(xx), J(b)(xx)))(x);
  const d2 = tf.max(tf.abs(tf.sub(ge.grad, ref))).dataSync()[0]!;
  assert.ok(d2 < 1e-4 * (tf.max(tf.abs(ref)).dataSync()[0]! + 1e-3), `autodiff: ${d2}`);
  // logits: the mean of the members'.
  const mean = tf.div(tf.add(ga.logits, gb.logits), 2);
  assert.ok(tf.max(tf.abs(tf.sub(ge.logits, mean))).dataSync()[0]! < 1e-5);
  tf.dispose([ge.grad, ge.logits, ga.grad, ga.logits, gb.grad, gb.logits, sum, ref, mean]);
});

test('members of different input sizes: v at the largest size; the gradient is the sum of the members’, through the resize (finite differences)', async () => {
  const big = new MlpClassifier([6, 6, 3], 10, 5, createRng(11));
  const small = new MlpClassifier([4, 4, 3], 9, 5, createRng(12));
  const e = new EnsembleClassifier([small, big]);
  assert.deepEqual(e.inputShape, [6, 6, 3], 'the largest member’s size, whatever the order');
  const n = 2;
  const xs = gaussianArray(n * 108, createRng(13), 128, 40);
  const x6 = tf.tensor4d(xs, [n, 6, 6, 3]);
  const c2 = tf.tensor1d([1, 4], 'int32');
  // The small member's view of an image, by the library's photo resize itself (not the ensemble's matrices).
  const view = (px: Float32Array) => {
    const out = new Float32Array(n * 48);
    for (let i = 0; i < n; i++) {
      const r = resampleFloat({ data: px.subarray(i * 108, (i + 1) * 108), width: 6, height: 6, channels: 3 }, { resizeWidth: 4, resizeHeight: 4, left: 0, top: 0, width: 4, height: 4 }, 3);
      out.set(r, i * 48);
    }
    return tf.tensor4d(out, [n, 4, 4, 3]);
  };
  // J(x) = −CE(big(x)) − CE(small(R x)), means over the batch: what lossGradient('ce', untargeted) differentiates.
  const forward = (m: Classifier) => (m as unknown as { forward(x: tf.Tensor4D): tf.Tensor2D }).forward.bind(m);
  const J = (px: Float32Array) =>
    tf.tidy(() => {
      const ce = (z: tf.Tensor2D) => tf.losses.softmaxCrossEntropy(tf.oneHot(c2, 5), z);
      return -tf.add(ce(forward(big)(tf.tensor4d(px, [n, 6, 6, 3]))), ce(forward(small)(view(px)))).dataSync()[0]!;
    });
  const up = (z: tf.Tensor2D) => lossGradient(z, c2, 'ce', 0, false, n);
  const { grad, logits } = await e.vjp(x6, up);
  assert.deepEqual(grad.shape, [n, 6, 6, 3]);
  const g = (await grad.data()) as Float32Array;
  const rng = createRng(14);
  for (let t = 0; t < 4; t++) {
    const d = gaussianArray(xs.length, rng);
    const eps = 0.05;
    const plus = Float32Array.from(xs, (a, i) => a + eps * d[i]!);
    const minus = Float32Array.from(xs, (a, i) => a - eps * d[i]!);
    const fd = (J(plus) - J(minus)) / (2 * eps);
    const an = g.reduce((s, a, i) => s + a * d[i]!, 0);
    assert.ok(Math.abs(fd - an) < 2e-2 * Math.abs(fd) + 1e-4, `direction ${t}: finite differences ${fd}, vjp ${an}`);
  }
  // logits: the mean of the members' on their own views; jacobian: its exact Jacobian (Rᵀ on the small member's part).
  const zs = await small.logits(view(xs));
  const zb = await big.logits(x6);
  assert.ok(tf.max(tf.abs(tf.sub(logits, tf.div(tf.add(zs, zb), 2)))).dataSync()[0]! < 1e-4);
  const cls = tf.tensor2d([[0, 2], [3, 1]], [2, 2], 'int32');
  const jac = await e.jacobian(x6, cls);
  assert.deepEqual(jac.grads.shape, [n, 2, 6, 6, 3]);
  const upOne = () => tf.oneHot(tf.tensor1d([2, 1], 'int32'), 5).toFloat() as tf.Tensor2D; // ∂ Σ_i z_i[cls_i,1]
  const sum = await e.vjp(x6, upOne);
  const j1 = tf.mul(tf.sum(jac.grads.slice([0, 1], [n, 1]), 1), 2); // mean over members × 2 = sum
  assert.ok(tf.max(tf.abs(tf.sub(j1, sum.grad))).dataSync()[0]! < 1e-4, 'jacobian row = vjp of that logit');
  tf.dispose([x6, c2, grad, logits, zs, zb, cls, jac.grads, jac.logits, sum.grad, sum.logits, j1]);
});

test('members must share channels and labels; a label-space mismatch is one line naming both models', () => {
  assert.throws(() => new EnsembleClassifier([a, new MlpClassifier([4, 4, 1], 4, 5, createRng(4))]), /must share the channels/);
  assert.throws(() => new EnsembleClassifier([a, new MlpClassifier(SHAPE, 4, 6, createRng(4))]), /different label spaces \(6 vs 5 classes\)/);
  const renamed = Object.create(b, { id: { value: 'other' }, labels: { value: { ids: ['0', '1', '2', 'x', '4'], names: ['0', '1', '2', 'x', '4'] } } }) as Classifier;
  assert.throws(
    () => new EnsembleClassifier([a, renamed]),
    (e: Error) => /^other and mlp have different label spaces \(class 3 is x vs 3\)/.test(e.message.replace(/^model: /, '')) && !e.message.includes('\n'),
  );
});
