import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createRng, gaussianArray } from '../../util/rng.js';
import { AffineClassifier, centroidClassifier, MlpClassifier } from './affine-classifier.js';

await tf.setBackend('cpu');

test('AffineClassifier: logits W·x + b, jacobian rows of W, vjp upstream·W', async () => {
  const clf = new AffineClassifier([1, 2, 1], [1, 2, -3, 4, 0.5, 0], [10, 0, -1]);
  const x = tf.tensor4d([1, 1, 2, -1], [2, 1, 2, 1]);
  assert.deepEqual(Array.from((await clf.logits(x)).dataSync()), [13, 1, -0.5, 10, -10, 0]);
  const { grads } = await clf.jacobian(x, tf.tensor2d([[2, 0], [1, 1]], [2, 2], 'int32'));
  assert.deepEqual(grads.shape, [2, 2, 1, 2, 1]);
  assert.deepEqual(Array.from(grads.dataSync()), [0.5, 0, 1, 2, -3, 4, -3, 4]);
  const { grad } = await clf.vjp(x, (z) => tf.onesLike(z));
  assert.deepEqual(Array.from(grad.dataSync()), [-1.5, 6, -1.5, 6]);
  clf.dispose();
});

test('centroidClassifier picks the nearest mean', async () => {
  const clf = centroidClassifier([1, 1, 2], [new Float32Array([0, 0]), new Float32Array([10, 0]), new Float32Array([0, 10])]);
  const x = tf.tensor4d([1, 1, 6, 1, 2, 7], [3, 1, 1, 2]);
  assert.deepEqual(Array.from((await clf.logits(x)).argMax(1).dataSync()), [0, 1, 2]);
  clf.dispose();
});

test('MlpClassifier: jacobian and vjp agree with central finite differences', async () => {
  const clf = new MlpClassifier([2, 2, 1], 8, 3, createRng(1));
  const xs = gaussianArray(2 * 4, createRng(2), 128, 40);
  const x = tf.tensor4d(xs, [2, 2, 2, 1]);
  const classes = tf.tensor2d([[0, 2], [1, 0]], [2, 2], 'int32');
  const { grads } = await clf.jacobian(x, classes);
  const g = grads.dataSync();
  const cls = [[0, 2], [1, 0]];
  const h = 1e-1; // logits are piecewise linear in x: central differences are exact away from ReLU kinks
  for (let i = 0; i < 2; i++) {
    for (let p = 0; p < 4; p++) {
      const plus = xs.slice();
      const minus = xs.slice();
      plus[i * 4 + p]! += h;
      minus[i * 4 + p]! -= h;
      const lp = (await clf.logits(tf.tensor4d(plus, [2, 2, 2, 1]))).arraySync() as number[][];
      const lm = (await clf.logits(tf.tensor4d(minus, [2, 2, 2, 1]))).arraySync() as number[][];
      for (let j = 0; j < 2; j++) {
        const fd = (lp[i]![cls[i]![j]!]! - lm[i]![cls[i]![j]!]!) / (2 * h);
        assert.ok(Math.abs(g[(i * 2 + j) * 4 + p]! - fd) < 1e-3 * Math.max(1, Math.abs(fd)), `d logit/d x mismatch`);
      }
    }
  }
  // vjp with a one-hot upstream equals the corresponding jacobian row.
  const { grad } = await clf.vjp(x, (z) => tf.oneHot(tf.tensor1d([0, 1], 'int32'), z.shape[1]).toFloat() as tf.Tensor2D);
  const v = grad.dataSync();
  for (let p = 0; p < 4; p++) {
    assert.ok(Math.abs(v[p]! - g[p]!) < 1e-5);
    assert.ok(Math.abs(v[4 + p]! - g[8 + p]!) < 1e-5);
  }
  clf.dispose();
});
