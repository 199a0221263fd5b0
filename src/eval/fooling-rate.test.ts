import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { tensorSource } from '../data/image-source.js';
import { AffineClassifier } from '../attacks/testing/affine-classifier.js';
import { UapError } from '../errors.js';
import { predict } from '../models/predict.js';
import { evaluatePerturbation } from './fooling-rate.js';

await tf.setBackend('cpu');

// Images of 1×1×2 pixels; logits (x0, x1, −2 − x0).
const clf = new AffineClassifier([1, 1, 2], [1, 0, 0, 1, -1, 0], [0, 0, -2]);
const pixels = [
  [10, 0], // a: clean 0 → perturbed (4, 0) → 0
  [0, 10], // b: clean 1 → clip(−6, 10) = (0, 10) → 1
  [10, 5], // c: clean 0 → (4, 5) → 1: fooled
  [3, 4], //  d: clean 1 → clip → (0, 4) → 1
  [1, 0.5], // g: clean 0 → clip (0, 0.5) → 1; without clip (−5, 0.5) → class 2
];
const labels = new Int32Array([0, 0, -1, 1, 2]); // b and g are misclassified already; c has no label
const v = new Float32Array([-6, 0]);

test('fooling rate compares perturbed with clean predictions, not with true labels', async () => {
  const x = tf.tensor4d(pixels.flat(), [5, 1, 1, 2]);
  const before = tf.memory().numTensors;
  const e = await evaluatePerturbation(clf, x, labels, v, { batchSize: 2, target: 1 });
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  assert.deepEqual(e.cleanPred, new Int32Array([0, 1, 0, 1, 0]));
  assert.deepEqual(e.pertPred, new Int32Array([0, 1, 1, 1, 1]));
  assert.equal(e.foolingRate, 2 / 5); // c and g changed; accuracy did not move
  assert.equal(e.labelled, 4);
  assert.equal(e.accuracyClean, 2 / 4);
  assert.equal(e.accuracyPerturbed, 2 / 4);
  assert.equal(e.errorRate, 2 / 4); // b and g wrong against their labels (both were wrong before v too)
  assert.equal(e.targetSuccess, 4 / 5);
  assert.equal(e.n, 5);

  // Without clipping g goes to class 2 (which happens to be its true label).
  const raw = await evaluatePerturbation(clf, x, labels, v, { clip: false });
  assert.deepEqual(raw.pertPred, new Int32Array([0, 1, 1, 1, 2]));
  assert.equal(raw.foolingRate, 2 / 5);
  assert.equal(raw.accuracyPerturbed, 3 / 4);
  assert.equal(raw.errorRate, 1 / 4);
  assert.equal(raw.targetSuccess, undefined);
  x.dispose();
});

test('an ImageSource, known clean predictions and a tensor v give the same answer; no labels → NaN accuracy', async () => {
  const x = tf.tensor4d(pixels.flat(), [5, 1, 1, 2]);
  const vt = tf.tensor3d(v, [1, 1, 2]);
  const clean = await predict(clf, x, 3);
  assert.deepEqual(clean, new Int32Array([0, 1, 0, 1, 0]));
  const progress: number[] = [];
  const e = await evaluatePerturbation(clf, tensorSource(x), null, vt, {
    cleanPred: clean,
    batchSize: 4,
    onProgress: (p) => progress.push(p.done),
  });
  assert.equal(e.foolingRate, 2 / 5);
  assert.ok(Number.isNaN(e.accuracyClean) && Number.isNaN(e.accuracyPerturbed));
  assert.ok(Number.isNaN(e.errorRate), 'no labels: no error rate (not one invented from the predictions)');
  assert.deepEqual(progress, [4, 5]);
  assert.equal(vt.isDisposed, false, 'the caller keeps its tensor');
  tf.dispose([x, vt]);
});

test('bad inputs are rejected', async () => {
  const x = tf.tensor4d(pixels.flat(), [5, 1, 1, 2]);
  const bad = (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT';
  await assert.rejects(evaluatePerturbation(clf, x, labels, new Float32Array(3)), bad);
  await assert.rejects(evaluatePerturbation(clf, x, new Int32Array(2), v), bad);
  await assert.rejects(evaluatePerturbation(clf, x, labels, v, { batchSize: 0 }), bad);
  await assert.rejects(evaluatePerturbation(clf, tf.zeros([0, 1, 1, 2]) as tf.Tensor4D, null, v), bad);
  const ctl = new AbortController();
  ctl.abort();
  await assert.rejects(
    evaluatePerturbation(clf, x, labels, v, { signal: ctl.signal }),
    (e: unknown) => e instanceof UapError && e.code === 'INTERRUPTED',
  );
  x.dispose();
});
