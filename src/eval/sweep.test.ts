import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { tensorSource } from '../data/image-source.js';
import { centroidClassifier } from '../attacks/testing/affine-classifier.js';
import { universalPerturbation } from '../attacks/universal.js';
import { UapError } from '../errors.js';
import { createRng } from '../util/rng.js';
import { evaluatePerturbation } from './fooling-rate.js';
import { sizeSweep, subsetSource, sweepSummary, type SweepPoint } from './sweep.js';

await tf.setBackend('cpu');

const shape = [2, 2, 1] as const;
const rng = createRng(4);
const means = [0, 1, 2].map(() => Float32Array.from({ length: 4 }, () => 60 + 140 * rng()));
const clf = centroidClassifier(shape, means);
const train = tf.tensor4d(Float32Array.from({ length: 16 * 4 }, () => 255 * rng()), [16, ...shape]);
const val = tf.tensor4d(Float32Array.from({ length: 10 * 4 }, () => 255 * rng()), [10, ...shape]);
const universal = { norm: 'inf' as const, xi: 25, maxPasses: 3, seed: 2, delta: 0.2 };

test('one perturbation per size, on nested prefixes of one shuffle, measured on the validation set', async () => {
  const ended: number[] = [];
  const before = tf.memory().numTensors;
  const r = await sizeSweep(clf, train, val, null, {
    sizes: [8, 2, 4, 4],
    universal,
    onSizeEnd: (p, i) => void ended.push(p.size, i),
  });
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  assert.deepEqual(r.points.map((p) => p.size), [2, 4, 8], 'sorted, duplicates dropped');
  assert.deepEqual(ended, [2, 0, 4, 1, 8, 2]);
  assert.equal(r.aborted, false);
  assert.equal(r.nVal, 10);
  assert.deepEqual([...r.order].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i), 'a permutation');
  assert.notDeepEqual(Array.from(r.order), Array.from({ length: 16 }, (_, i) => i), 'shuffled');

  let someFooled = false;
  for (const p of r.points) {
    // X of size n is order[0 .. n−1]: Algorithm 1 on exactly those images gives the same v, bit for bit.
    const X = subsetSource(tensorSource(train), r.order.slice(0, p.size));
    const ref = await universalPerturbation(clf, X, universal);
    assert.deepEqual(p.v, ref.v, `|X| = ${p.size}`);
    assert.equal(p.foolingRateX, ref.foolingRate);
    assert.equal(p.passes, ref.passes);
    const ev = await evaluatePerturbation(clf, val, null, p.v);
    assert.equal(p.foolingRateVal, ev.foolingRate);
    assert.ok(p.foolingRateVal >= 0 && p.foolingRateVal <= 1 && p.seconds >= 0);
    assert.ok(Math.max(...p.v.map(Math.abs)) <= 25 + 1e-4, 'inside the ℓ∞ ball');
    if (p.foolingRateVal > 0) someFooled = true;
    const s = sweepSummary(p) as Partial<SweepPoint>;
    assert.equal(s.v, undefined);
    assert.equal(s.size, p.size);
  }
  assert.ok(someFooled, 'the perturbations do something');
});

test('noShuffle keeps the given order; bad sizes and abort', async () => {
  const r = await sizeSweep(clf, train, val, null, { sizes: [3], universal, noShuffle: true });
  assert.deepEqual(Array.from(r.order.slice(0, 3)), [0, 1, 2]);
  const bad = (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT';
  await assert.rejects(sizeSweep(clf, train, val, null, { sizes: [17], universal }), bad);
  await assert.rejects(sizeSweep(clf, train, val, null, { sizes: [0], universal }), bad);
  await assert.rejects(sizeSweep(clf, train, val, null, { sizes: [], universal }), bad);
  const ctl = new AbortController();
  const r2 = await sizeSweep(clf, train, val, null, {
    sizes: [2, 4],
    universal,
    signal: ctl.signal,
    onSizeEnd: () => ctl.abort(),
  });
  assert.equal(r2.aborted, true);
  assert.deepEqual(r2.points.map((p) => p.size), [2]);
});
