import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { AffineClassifier } from '../attacks/testing/affine-classifier.js';
import { accuracyOn, errorRate, misclassification, successRate } from '../attacks/criteria.js';
import { evaluatePerturbation } from './fooling-rate.js';

await tf.setBackend('cpu');

// The two measures on a closed-form case. Images of 1×1×2 pixels, logits (x0, x1, −2 − x0), v = (−6, 0), clipped.
const clf = new AffineClassifier([1, 1, 2], [1, 0, 0, 1, -1, 0], [0, 0, -2]);
const pixels = [
  [10, 0], //  p: clean 0 (right), perturbed (4, 0) → 0: neither fooled nor an error
  [10, 5], //  q: clean 0 (right), perturbed (4, 5) → 1: fooled and a new error
  [1, 0.5], // r: clean 0 (wrong, label 2), perturbed (0, 0.5) → 1 (wrong again): fooled, but no new error
  [0, 10], //  s: clean 1 (wrong, label 0), perturbed (0, 10) → 1 unchanged: an error, not fooled
];
const labels = new Int32Array([0, 0, 2, 0]);
const v = new Float32Array([-6, 0]);

test('fooling rate (top-1 changed) and error rate (wrong against the true label) differ where x was already wrong', async () => {
  const x = tf.tensor4d(pixels.flat(), [4, 1, 1, 2]);
  const e = await evaluatePerturbation(clf, x, labels, v);
  x.dispose();
  assert.deepEqual(e.cleanPred, Int32Array.of(0, 0, 0, 1));
  assert.deepEqual(e.pertPred, Int32Array.of(0, 1, 1, 1));
  assert.equal(e.foolingRate, 2 / 4, 'q and r changed label');
  assert.equal(e.errorRate, 3 / 4, 'q, r and s are wrong after v');
  assert.equal(e.accuracyClean, 2 / 4);
  assert.equal(e.accuracyPerturbed, 1 / 4);
  // v = 0: nothing is fooled, but the error rate is already 1 − clean accuracy.
  const zero = await evaluatePerturbation(clf, tf.tensor4d(pixels.flat(), [4, 1, 1, 2]), labels, new Float32Array(2));
  assert.equal(zero.foolingRate, 0);
  assert.equal(zero.errorRate, 2 / 4);
  // The criteria helpers give the same numbers from the predictions alone.
  assert.equal(successRate(misclassification(), e.cleanPred, e.pertPred), 2 / 4);
  assert.equal(errorRate(labels, e.pertPred), 3 / 4);
  assert.equal(accuracyOn(labels, e.cleanPred), 2 / 4);
});

test('the error rate is over labelled images only, and n/a (NaN) without labels', () => {
  const pred = Int32Array.of(3, 3, 3, 3);
  assert.equal(errorRate(Int32Array.of(3, -1, 5, -1), pred), 1 / 2);
  assert.ok(Number.isNaN(errorRate(Int32Array.of(-1, -1, -1, -1), pred)));
  assert.ok(Number.isNaN(errorRate(null, pred)));
  assert.ok(Number.isNaN(accuracyOn(undefined, pred)));
  assert.throws(() => errorRate(Int32Array.of(1), pred), /1 labels for 4 predictions/);
});
