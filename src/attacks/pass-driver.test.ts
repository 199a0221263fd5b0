import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { createRng, gaussianArray } from '../util/rng.js';
import { deepfool } from './deepfool.js';
import type { PassRecord } from './pass-driver.js';
import { sgdPerturbation } from './sgd.js';
import { MlpClassifier } from './testing/affine-classifier.js';
import { universalPerturbation } from './universal.js';

await tf.setBackend('cpu');

/**
 * Interrupts through the shared pass driver. The attacks' work is a chain of awaits that resolve at once on the
 * CPU backend, so an abort that comes from outside the chain (a timer here, a SIGINT handler in the CLI) is seen
 * only if the attacks give the event loop a turn at their checks. Before they did, such an abort waited for the
 * end of the pass (issue #11, item 5).
 */
const SHAPE = [4, 4, 1] as const;
const N = 60;
const mlp = new MlpClassifier(SHAPE, 32, 10, createRng(2));
const X = tf.tensor4d(
  gaussianArray(N * 16, createRng(9), 128, 40).map((a) => Math.min(255, Math.max(0, a))),
  [N, ...SHAPE],
);

/** Aborts from a timer scheduled at the end of pass 1: it can fire only when the attack yields to the event loop. */
function abortAfterPass1() {
  const ctl = new AbortController();
  let saved: { v: Float32Array; history: PassRecord[] } | undefined;
  const onPassEnd = (v: Float32Array, history: PassRecord[]) => {
    if (history.length === 1) {
      saved = { v: v.slice(), history: history.slice() };
      setTimeout(() => ctl.abort(), 0);
    }
  };
  return { signal: ctl.signal, onPassEnd, saved: () => saved };
}

test('Algorithm 1: an abort from a timer is acted on within the next pass; the result is the completed pass 1', async () => {
  // ξ = 3 never reaches the goal: without the event-loop turns all 6 passes would run.
  const a = abortAfterPass1();
  const res = await universalPerturbation(mlp, X, { norm: 2, xi: 3, seed: 4, maxPasses: 6, delta: 0.01, signal: a.signal, onPassEnd: a.onPassEnd });
  assert.equal(res.aborted, true);
  assert.equal(res.passes, 1);
  assert.deepEqual(res.history, a.saved()!.history);
  assert.deepEqual(res.v, a.saved()!.v);
  // Resuming from that checkpoint equals the uninterrupted run.
  const full = await universalPerturbation(mlp, X, { norm: 2, xi: 3, seed: 4, maxPasses: 3, delta: 0.01 });
  const resumed = await universalPerturbation(mlp, X, { norm: 2, xi: 3, seed: 4, maxPasses: 3, delta: 0.01, initial: { v: res.v, pass: 1, history: res.history } });
  assert.deepEqual(resumed.v, full.v);
  assert.deepEqual(resumed.history.map((h) => h.foolingRate), full.history.map((h) => h.foolingRate));
});

test('SGD: an abort from a timer stops before the next step; the result is the completed epoch 1, with no DeepFool fields', async () => {
  const a = abortAfterPass1();
  const res = await sgdPerturbation(mlp, X, { norm: 'inf', xi: 2, seed: 4, epochs: 6, batchSize: 5, signal: a.signal, onPassEnd: a.onPassEnd });
  assert.equal(res.aborted, true);
  assert.equal(res.passes, 1);
  assert.deepEqual(res.v, a.saved()!.v);
  assert.equal('deepfoolCalls' in res.history[0]!, false);
  assert.equal(res.history[0]!.updates, N / 5);
});

test('DeepFool stops between two iterations when its signal is aborted (UapError INTERRUPTED)', async () => {
  const ctl = new AbortController();
  let jacobians = 0;
  const counting: Classifier = Object.create(mlp, {
    jacobian: {
      value: (x: tf.Tensor4D, cls: tf.Tensor2D) => {
        if (++jacobians === 1) setTimeout(() => ctl.abort(), 0);
        return mlp.jacobian(x, cls);
      },
    },
  });
  const x = tf.slice(X, [0], [4]);
  await assert.rejects(deepfool(counting, x, { maxIter: 50, overshoot: 0, signal: ctl.signal }), (e: unknown) => e instanceof UapError && e.code === 'INTERRUPTED');
  assert.ok(jacobians <= 2, `${jacobians} jacobian calls after the abort`);
  x.dispose();
});

test('a finished run resumed does nothing more (Algorithm 1 and SGD alike)', async () => {
  const done = await sgdPerturbation(mlp, X, { norm: 'inf', xi: 60, seed: 1, epochs: 5, delta: 0.5 });
  assert.ok(done.passes < 5, `reached 1 − δ after ${done.passes} epochs`);
  const again = await sgdPerturbation(mlp, X, { norm: 'inf', xi: 60, seed: 1, epochs: 5, delta: 0.5, initial: { v: done.v, pass: done.passes, history: done.history } });
  assert.equal(again.passes, done.passes);
  assert.deepEqual(again.v, done.v);
});
