import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { MlpClassifier } from '../attacks/testing/affine-classifier.js';
import { lossGradient } from '../attacks/sgd-loss.js';
import { createRng, gaussianArray } from '../util/rng.js';
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

test('members must share input size and labels', () => {
  assert.throws(() => new EnsembleClassifier([a, new MlpClassifier([8, 8, 3], 4, 5, createRng(4))]), /must share the input size/);
  assert.throws(() => new EnsembleClassifier([a, new MlpClassifier(SHAPE, 4, 6, createRng(4))]), /different label spaces/);
});
