import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import { predict } from '../models/predict.js';
import { createRng, gaussianArray } from '../util/rng.js';
import { sgdPerturbation } from './sgd.js';
import { MlpClassifier } from './testing/affine-classifier.js';
import { universalPerturbation } from './universal.js';

await tf.setBackend('cpu');

// Every pass record carries both measures on X when X's true labels are given (the error rate only then).
const SHAPE = [4, 4, 1] as const;
const N = 40;
const mlp = new MlpClassifier(SHAPE, 16, 5, createRng(3));
const X = tf.tensor4d(gaussianArray(N * 16, createRng(4), 128, 40).map((a) => Math.min(255, Math.max(0, a))), [N, ...SHAPE]);

test('pass records and the result hold the error rate on X beside the fooling rate, equal to evaluatePerturbation', async () => {
  const clean = await predict(mlp, X);
  // Labels that disagree with the model on a third of X (so the two measures differ), and some unknown.
  const labels = Int32Array.from(clean, (c, i) => (i % 7 === 6 ? -1 : i % 3 === 0 ? (c + 1) % 5 : c));
  for (const run of [
    () => sgdPerturbation(mlp, X, { norm: 'inf', xi: 20, epochs: 2, batchSize: 8, labels }),
    () => universalPerturbation(mlp, X, { norm: 'inf', xi: 20, maxPasses: 2, delta: 0.01, labels }),
  ]) {
    const r = await run();
    assert.ok(r.history.length >= 1);
    const e = await evaluatePerturbation(mlp, X, labels, r.v);
    const last = r.history.at(-1)!;
    assert.equal(last.foolingRate, e.foolingRate);
    assert.equal(last.errorRate, e.errorRate);
    assert.equal(r.errorRate, e.errorRate);
    assert.equal(r.accuracyClean, e.accuracyClean);
    assert.notEqual(e.errorRate, e.foolingRate, 'the case separates the two measures');
  }
});

test('without labels there is no error rate: the records omit it and the result says NaN', async () => {
  const r = await sgdPerturbation(mlp, X, { norm: 'inf', xi: 20, epochs: 1, batchSize: 8 });
  assert.equal('errorRate' in r.history[0]!, false);
  assert.ok(Number.isNaN(r.errorRate) && Number.isNaN(r.accuracyClean));
  const unknown = await sgdPerturbation(mlp, X, { norm: 'inf', xi: 20, epochs: 1, batchSize: 8, labels: new Int32Array(N).fill(-1) });
  assert.equal('errorRate' in unknown.history[0]!, false);
  await assert.rejects(sgdPerturbation(mlp, X, { norm: 'inf', xi: 20, epochs: 1, labels: new Int32Array(3) }), /3 labels for 40 images/);
});
