import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import { createRng, gaussianArray, permutation } from '../util/rng.js';
import { deepfool } from './deepfool.js';
import { lpNorm, projectLp, type LpNorm } from './project.js';
import { centroidClassifier, MlpClassifier } from './testing/affine-classifier.js';
import { universalPerturbation, type PassRecord, type UniversalOptions } from './universal.js';

await tf.setBackend('cpu');

/**
 * A problem with a universal perturbation: 10 Gaussian clusters in 4×4×1 pixels, class 0 a hub at 128
 * everywhere, class k > 0 the hub + 40 on pixel k−1; a nearest-centroid (affine) classifier. Pushing every
 * image towards one class fools all the others, so the best fooling rate is 0.9.
 */
const SHAPE = [4, 4, 1] as const;
const D = 16;
const N = 100;
const means = Array.from({ length: 10 }, (_, k) => {
  const m = new Float32Array(D).fill(128);
  if (k > 0) m[k - 1]! += 40;
  return m;
});
const rng = createRng(1);
const pixels = new Float32Array(N * D);
for (let i = 0; i < N; i++) {
  const z = gaussianArray(D, rng, 0, 6);
  for (let j = 0; j < D; j++) pixels[i * D + j] = means[i % 10]![j]! + z[j]!;
}
const X = tf.tensor4d(pixels, [N, ...SHAPE]);
const clf = centroidClassifier(SHAPE, means);

test('Algorithm 1 reaches 1 − δ on the synthetic problem, in every norm, within the ξ-ball', async () => {
  const cases: [LpNorm, number][] = [
    [2, 80],
    ['inf', 40],
    [1, 100],
  ];
  for (const [norm, xi] of cases) {
    const before = tf.memory().numTensors;
    const res = await universalPerturbation(clf, X, { norm, xi, seed: 1, maxPasses: 10 });
    assert.equal(tf.memory().numTensors, before, `norm ${norm}: no leaked tensors`);
    assert.ok(res.foolingRate >= 0.8, `norm ${norm}: fooling rate ${res.foolingRate}`);
    assert.equal(res.aborted, false);
    assert.equal(res.passes, res.history.length);
    assert.ok(res.passes < 10, 'stops as soon as 1 − δ is reached');
    assert.ok(lpNorm(res.v, norm) <= xi * (1 + 1e-5), `‖v‖ = ${lpNorm(res.v, norm)}`);
    assert.equal(res.history.at(-1)!.foolingRate, res.foolingRate);
    for (const h of res.history.slice(0, -1)) assert.ok(h.foolingRate < 0.8, 'earlier passes had not reached the target');
    // The reported rate is the real one.
    const ev = await evaluatePerturbation(clf, X, null, res.v);
    assert.equal(ev.foolingRate, res.foolingRate);
  }
});

test('targeted Algorithm 1 sends 1 − δ of X to the target class', async () => {
  const res = await universalPerturbation(clf, X, { norm: 2, xi: 80, seed: 1, target: 3 });
  const last = res.history.at(-1)!;
  assert.ok(last.targetSuccess! >= 0.8, `target success ${last.targetSuccess}`);
  const ev = await evaluatePerturbation(clf, X, null, res.v, { target: 3 });
  assert.equal(ev.targetSuccess, last.targetSuccess);
  assert.ok(ev.pertPred.filter((p) => p === 3).length >= 80);
  await assert.rejects(universalPerturbation(clf, X, { norm: 2, xi: 80, target: 10 }), /target/);
});

test('a ξ too small to fool anything runs maxPasses and reports it', async () => {
  const res = await universalPerturbation(clf, X, { norm: 2, xi: 5, seed: 1, maxPasses: 2 });
  assert.equal(res.passes, 2);
  assert.ok(res.foolingRate < 0.2);
  assert.ok(res.history.every((h) => h.deepfoolCalls! > 80 && h.updates > 0));
});

/** Algorithm 1 written out literally, one image at a time: the reference for the batched implementation. */
async function sequentialReference(norm: LpNorm, xi: number, passes: number, seed: number): Promise<Float32Array> {
  const r = createRng(seed);
  const clean = Int32Array.from((await clf.logits(X)).argMax(1).dataSync());
  let v: Float32Array = new Float32Array(D);
  for (let p = 0; p < passes; p++) {
    for (const i of permutation(N, r)) {
      const xi1 = tf.slice(X, [i], [1]) as tf.Tensor4D;
      const xv = tf.clipByValue(tf.add(xi1, tf.tensor3d(v, [...SHAPE])), 0, 255) as tf.Tensor4D;
      const pred = (await clf.logits(xv)).argMax(1).dataSync()[0];
      if (pred === clean[i]) {
        const df = await deepfool(clf, xi1, { offset: v, maxIter: 10, norm: norm === 'inf' ? 'inf' : 2, clip: true });
        if (df.converged[0]) v = projectLp(Float32Array.from(v, (a, j) => a + df.r[j]!), xi, norm);
      }
    }
  }
  return v;
}

test('batched "already fooled?" checks do not change the result: equal to the literal sequential algorithm', async () => {
  for (const [norm, xi] of [
    ['inf', 25],
    [2, 60],
  ] as [LpNorm, number][]) {
    const ref = await sequentialReference(norm, xi, 2, 5);
    const res = await universalPerturbation(clf, X, { norm, xi, seed: 5, maxPasses: 2, delta: 0.01, checkBatchSize: 7 });
    assert.equal(res.passes, 2);
    assert.ok(res.history.every((h) => h.updates > 3), 'v moves many times within a pass');
    assert.deepEqual(res.v, ref);
  }
});

test('the mini-batched DeepFool approximation still reaches the target', async () => {
  const res = await universalPerturbation(clf, X, { norm: 2, xi: 80, seed: 2, deepfoolBatchSize: 8 });
  assert.ok(res.foolingRate >= 0.8);
});

test('same seed and data → bit-identical v; a resumed run continues exactly', async () => {
  const opts: UniversalOptions = { norm: 'inf', xi: 25, seed: 3, maxPasses: 3, delta: 0.01 };
  const a = await universalPerturbation(clf, X, opts);
  const b = await universalPerturbation(clf, X, opts);
  assert.equal(a.passes, 3);
  assert.deepEqual(a.v, b.v);
  const c = await universalPerturbation(clf, X, { ...opts, seed: 4 });
  assert.notDeepEqual(c.v, a.v, 'another seed visits X in another order');

  // Checkpoint after pass 2, resume to pass 3.
  let checkpoint: { v: Float32Array; history: PassRecord[] } | null = null;
  await universalPerturbation(clf, X, {
    ...opts,
    onPassEnd: (v, history) => {
      if (history.length === 2) checkpoint = { v: v.slice(), history: history.slice() };
    },
  });
  assert.ok(checkpoint);
  const { v, history } = checkpoint as { v: Float32Array; history: PassRecord[] };
  const resumed = await universalPerturbation(clf, X, { ...opts, initial: { v, pass: 2, history } });
  assert.equal(resumed.passes, 3);
  assert.equal(resumed.history.length, 3);
  assert.deepEqual(resumed.v, a.v);
});

test('AbortSignal stops at the next image and returns the last completed pass', async () => {
  const ctl = new AbortController();
  const ends: Float32Array[] = [];
  let seenPass2 = 0;
  const res = await universalPerturbation(clf, X, {
    norm: 'inf',
    xi: 25,
    seed: 1,
    delta: 0.01,
    maxPasses: 5,
    checkBatchSize: 10,
    signal: ctl.signal,
    onPassEnd: (v) => void ends.push(v.slice()),
    onProgress: (e) => {
      if (e.phase === 'pass' && e.pass === 2 && ++seenPass2 === 3) ctl.abort();
    },
  });
  assert.equal(res.aborted, true);
  assert.equal(res.passes, 1);
  assert.equal(ends.length, 1);
  assert.deepEqual(res.v, ends[0]);
  assert.equal(res.foolingRate, res.history[0]!.foolingRate);

  // Aborted before anything: v = 0, no pass.
  const early = await universalPerturbation(clf, X, { norm: 2, xi: 80, signal: AbortSignal.abort() });
  assert.equal(early.aborted, true);
  assert.equal(early.passes, 0);
  assert.ok(early.v.every((a) => a === 0));
});

test('keepBest returns the pass with the highest fooling rate', async () => {
  // ℓ∞ ξ = 25, seed 2: the fooling rate wanders (0.78, 0.78, 0.61, …) without reaching 0.8.
  const last = await universalPerturbation(clf, X, { norm: 'inf', xi: 25, seed: 2, maxPasses: 4 });
  const best = await universalPerturbation(clf, X, { norm: 'inf', xi: 25, seed: 2, maxPasses: 4, keepBest: true });
  const rates = best.history.map((h) => h.foolingRate);
  assert.equal(best.foolingRate, Math.max(...rates));
  assert.equal(last.foolingRate, rates.at(-1));
  assert.ok(best.foolingRate > last.foolingRate, `the test needs a wandering run: ${rates.join(' ')}`);
  assert.equal((await evaluatePerturbation(clf, X, null, best.v)).foolingRate, best.foolingRate);
});

test('Algorithm 1 on a nonlinear classifier (MLP, tf.grad jacobian) raises the fooling rate to its target', async () => {
  const mlp = new MlpClassifier(SHAPE, 32, 10, createRng(2));
  const U = tf.tensor4d(
    gaussianArray(N * D, createRng(9), 128, 40).map((a) => Math.min(255, Math.max(0, a))),
    [N, ...SHAPE],
  );
  const res = await universalPerturbation(mlp, U, { norm: 2, xi: 100, delta: 0.4, seed: 1, maxPasses: 5 });
  assert.ok(res.foolingRate >= 0.6, `fooling rate ${res.foolingRate}`);
  assert.ok(lpNorm(res.v, 2) <= 100 * (1 + 1e-5));
  tf.dispose(U);
  mlp.dispose();
});

test('bad options are rejected with BAD_ARGUMENT naming the option', async () => {
  const bad = (name: RegExp) => (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && name.test(e.message);
  const base: UniversalOptions = { norm: 2, xi: 10 };
  const cases: [Partial<UniversalOptions> & Record<string, unknown>, RegExp][] = [
    [{ xi: 0 }, /xi/],
    [{ xi: -3 }, /xi/],
    [{ delta: 0 }, /delta/],
    [{ delta: 1 }, /delta/],
    [{ norm: 3 as unknown as LpNorm }, /norm/],
    [{ maxPasses: 0 }, /maxPasses/],
    [{ candidates: 1 }, /candidates/],
    [{ step: 1 as unknown as 2 }, /step/],
    [{ initial: { v: new Float32Array(3), pass: 0 } }, /initial\.v/],
  ];
  for (const [o, re] of cases) await assert.rejects(universalPerturbation(clf, X, { ...base, ...o }), bad(re));
  await assert.rejects(universalPerturbation(clf, tf.zeros([0, 4, 4, 1]) as tf.Tensor4D, base), bad(/X/));
  const wrong = tf.zeros([2, 3, 3, 1]) as tf.Tensor4D;
  await assert.rejects(universalPerturbation(clf, wrong, base), bad(/X/));
  wrong.dispose();
});
