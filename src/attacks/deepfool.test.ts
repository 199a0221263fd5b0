import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { createRng, gaussianArray } from '../util/rng.js';
import { deepfool } from './deepfool.js';
import { AffineClassifier, MlpClassifier } from './testing/affine-classifier.js';

await tf.setBackend('cpu');

const SHAPE = [2, 3, 2] as const; // D = 12
const D = 12;

/** Closed form for an affine classifier (float64): the minimal ℓ2 or ℓ∞ perturbation that changes the label. */
function closedForm(W: Float32Array, b: Float32Array, x: Float32Array, norm: 2 | 'inf'): { r: Float64Array; label: number } {
  const K = b.length;
  const f = Array.from({ length: K }, (_, k) => {
    let s = b[k]!;
    for (let i = 0; i < D; i++) s += W[k * D + i]! * x[i]!;
    return s;
  });
  const l0 = f.indexOf(Math.max(...f));
  let best = Infinity;
  let r = new Float64Array(D);
  let label = -1;
  for (let k = 0; k < K; k++) {
    if (k === l0) continue;
    const wp = Float64Array.from({ length: D }, (_, i) => W[k * D + i]! - W[l0 * D + i]!);
    const fp = f[k]! - f[l0]!;
    const nrm = norm === 2 ? Math.hypot(...wp) : wp.reduce((s, v) => s + Math.abs(v), 0);
    const dist = Math.abs(fp) / nrm;
    if (dist < best) {
      best = dist;
      label = k;
      r = norm === 2 ? wp.map((v) => (Math.abs(fp) / (nrm * nrm)) * v) : wp.map((v) => (Math.abs(fp) / nrm) * Math.sign(v));
    }
  }
  return { r, label };
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

function randomAffine(seed: number, K: number): { W: Float32Array; b: Float32Array; clf: AffineClassifier } {
  const rng = createRng(seed);
  // Logit gaps of order 10–100, as in real networks: the step's +1e-4 is then far below the tolerance.
  const W = gaussianArray(K * D, rng, 0, 1);
  const b = gaussianArray(K, rng, 0, 50);
  return { W, b, clf: new AffineClassifier(SHAPE, W, b) };
}

/** A random affine classifier with K classes and n Gaussian images around mid-grey (pixels seeded by `dataSeed`). */
function affineCase(seed: number, K: number, n: number, dataSeed: number) {
  const xs = gaussianArray(n * D, createRng(dataSeed), 128, 60);
  return { ...randomAffine(seed, K), xs, x: tf.tensor4d(xs, [n, ...SHAPE]) };
}

test('ℓ2 DeepFool on an affine classifier equals the closed-form minimal perturbation (binary and multi-class)', async () => {
  for (const K of [2, 5]) {
    const { W, b, clf } = randomAffine(10 + K, K);
    const n = 7;
    const xs = gaussianArray(n * D, createRng(99), 128, 60);
    const x = tf.tensor4d(xs, [n, ...SHAPE]);
    const before = tf.memory().numTensors;
    const res = await deepfool(clf, x, { overshoot: 0.02, batchSize: 3 });
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
    for (let i = 0; i < n; i++) {
      const xi = xs.subarray(i * D, (i + 1) * D);
      const cf = closedForm(W, b, xi, 2);
      if (K === 2) {
        // Binary: f = f_1 − f_0, w = w_1 − w_0, r* = −f(x)·w/‖w‖².
        const f = (b[1]! - b[0]!) + xi.reduce((s, v, j) => s + (W[D + j]! - W[j]!) * v, 0);
        const w = Float64Array.from({ length: D }, (_, j) => W[D + j]! - W[j]!);
        const ww = w.reduce((s, v) => s + v * v, 0);
        const rStar = w.map((v) => (-f * v) / ww);
        assert.ok(relErr(cf.r, rStar) < 1e-9, 'closed forms agree');
      }
      const r = res.r.subarray(i * D, (i + 1) * D).map((v) => v / 1.02); // before overshoot
      assert.ok(relErr(r, cf.r) < 1e-4, `image ${i}, K=${K}: relative error ${relErr(r, cf.r)}`);
      assert.equal(res.converged[i], 1);
      assert.equal(res.iterations[i], 1, 'one step suffices for an affine classifier');
      assert.equal(res.label[i], cf.label);
      assert.notEqual(res.label[i], res.originalLabel[i]);
    }
    // The returned perturbation really flips the label.
    const xr = tf.add(x, tf.tensor4d(res.r, [n, ...SHAPE])) as tf.Tensor4D;
    const pred = (await clf.logits(xr)).argMax(1).dataSync();
    assert.deepEqual(Int32Array.from(pred), res.label);
    tf.dispose([x, xr]);
    clf.dispose();
  }
});

test('ℓ∞ DeepFool on an affine classifier equals |f′|/‖w′‖₁·sign(w′)', async () => {
  const n = 5;
  const { W, b, clf, xs, x } = affineCase(3, 4, n, 5);
  const res = await deepfool(clf, x, { norm: 'inf', overshoot: 0 });
  for (let i = 0; i < n; i++) {
    const cf = closedForm(W, b, xs.subarray(i * D, (i + 1) * D), 'inf');
    const r = res.r.subarray(i * D, (i + 1) * D);
    assert.ok(relErr(r, cf.r) < 1e-4, `image ${i}: relative error ${relErr(r, cf.r)}`);
    // Every coordinate moves by the same amount: an ℓ∞-ball corner.
    const m = Math.abs(r[0]!);
    for (const v of r) assert.ok(Math.abs(Math.abs(v) - m) < 1e-4 * m);
    assert.equal(res.converged[i], 1);
  }
  x.dispose();
  clf.dispose();
});

test('candidates = 2 restricts DeepFool to the runner-up class of the clean prediction', async () => {
  const n = 6;
  const { W, b, clf, xs, x } = affineCase(41, 6, n, 6);
  const logits = (await clf.logits(x)).arraySync() as number[][];
  const res = await deepfool(clf, x, { candidates: 2, overshoot: 0 });
  let differs = 0;
  for (let i = 0; i < n; i++) {
    const order = logits[i]!.map((v, k) => [v, k] as const).sort((p, q) => q[0] - p[0]);
    const [top, second] = [order[0]![1], order[1]![1]];
    assert.equal(res.originalLabel[i], top);
    // Closed form for the pair (top, second) only: r = |f'|/‖w'‖² w'.
    const wp = Float64Array.from({ length: D }, (_, j) => W[second * D + j]! - W[top * D + j]!);
    const fp = logits[i]![second]! - logits[i]![top]!;
    const ww = wp.reduce((s, v) => s + v * v, 0);
    const r = res.r.subarray(i * D, (i + 1) * D);
    assert.ok(relErr(r, wp.map((v) => (Math.abs(fp) / ww) * v)) < 1e-4);
    if (closedForm(W, b, xs.subarray(i * D, (i + 1) * D), 2).label !== second) differs++;
  }
  assert.ok(differs > 0, 'the test needs an image whose nearest boundary is not the runner-up');
  x.dispose();
  clf.dispose();
});

test('an offset is applied before the attack: r is the extra step from x + v', async () => {
  const { W, b, clf } = randomAffine(21, 3);
  const xs = gaussianArray(2 * D, createRng(8), 128, 60);
  const v = gaussianArray(D, createRng(9), 0, 20);
  const x = tf.tensor4d(xs, [2, ...SHAPE]);
  const res = await deepfool(clf, x, { offset: v, overshoot: 0 });
  for (let i = 0; i < 2; i++) {
    const xv = Float32Array.from(xs.subarray(i * D, (i + 1) * D), (p, j) => p + v[j]!);
    const cf = closedForm(W, b, xv, 2);
    assert.ok(relErr(res.r.subarray(i * D, (i + 1) * D), cf.r) < 1e-4);
  }
  x.dispose();
  clf.dispose();
});

test('DeepFool flips a nonlinear (MLP) classifier in a few steps, and the result is a real adversarial example', async () => {
  const clf = new MlpClassifier(SHAPE, 16, 6, createRng(4));
  const n = 10;
  const x = tf.tensor4d(gaussianArray(n * D, createRng(12), 128, 50), [n, ...SHAPE]);
  const before = tf.memory().numTensors;
  const res = await deepfool(clf, x, { maxIter: 50, batchSize: 4 });
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  const xr = tf.add(x, tf.tensor4d(res.r, [n, ...SHAPE])) as tf.Tensor4D;
  const l = await clf.logits(xr);
  const pred = Int32Array.from(l.argMax(1).dataSync());
  for (let i = 0; i < n; i++) {
    assert.equal(res.converged[i], 1, `image ${i} converged`);
    assert.ok(res.iterations[i]! >= 1 && res.iterations[i]! <= 50);
    assert.notEqual(pred[i], res.originalLabel[i]);
    assert.equal(pred[i], res.label[i]);
  }
  tf.dispose([x, xr, l]);
  clf.dispose();
});

test('targeted DeepFool reaches the target class', async () => {
  const { clf } = randomAffine(31, 5);
  const n = 6;
  const x = tf.tensor4d(gaussianArray(n * D, createRng(2), 128, 60), [n, ...SHAPE]);
  const clean = Int32Array.from((await clf.logits(x)).argMax(1).dataSync());
  const target = Int32Array.from(clean, (c) => (c + 2) % 5);
  const res = await deepfool(clf, x, { target, maxIter: 50 });
  assert.deepEqual(res.label, target);
  assert.ok(res.converged.every((c) => c === 1));
  const xr = tf.add(x, tf.tensor4d(res.r, [n, ...SHAPE])) as tf.Tensor4D;
  assert.deepEqual(Int32Array.from((await clf.logits(xr)).argMax(1).dataSync()), target);
  tf.dispose([x, xr]);
  clf.dispose();
});

test('clip keeps the iterate in 0..255: a boundary beyond 255 is unreachable; maxIter bounds the work', async () => {
  // f_1 − f_0 = x_0 − 260: the label flips only when pixel 0 exceeds 260.
  const W = new Float32Array(2 * D);
  W[D] = 1;
  const clf = new AffineClassifier(SHAPE, W, [0, -260]);
  const x = tf.tensor4d(new Float32Array(D).fill(250), [1, ...SHAPE]);
  const free = await deepfool(clf, x, { overshoot: 0 });
  assert.equal(free.converged[0], 1);
  assert.ok(Math.abs(free.r[0]! - 10) < 1e-3);
  const clipped = await deepfool(clf, x, { clip: true, maxIter: 7 });
  assert.equal(clipped.converged[0], 0);
  assert.equal(clipped.iterations[0], 7);
  assert.equal(clipped.label[0], 0);
  x.dispose();
  clf.dispose();
});

test('bad options are rejected with BAD_ARGUMENT naming the option', async () => {
  const { clf } = randomAffine(1, 3);
  const x = tf.tensor4d(new Float32Array(D), [1, ...SHAPE]);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ candidates: 1 }, /candidates/],
    [{ overshoot: -0.1 }, /overshoot/],
    [{ maxIter: 0 }, /maxIter/],
    [{ norm: 1 }, /norm/],
    [{ offset: new Float32Array(3) }, /offset/],
    [{ target: new Int32Array([7]) }, /target/],
    [{ target: new Int32Array([0, 1]) }, /target/],
  ];
  for (const [o, re] of cases) {
    await assert.rejects(deepfool(clf, x, o), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && re.test(e.message));
  }
  x.dispose();
  clf.dispose();
});

test('DeepFool through the Net gradient engine (NetClassifier): exact one-step flips on a linear net, flips on a ReLU net', async () => {
  const { NetBuilder } = await import('../models/net/ir.js');
  const { NetClassifier } = await import('../models/net-classifier.js');
  const labels = { ids: ['0', '1', '2', '3'], names: ['0', '1', '2', '3'] };
  const rng = createRng(77);
  for (const act of ['linear', 'relu'] as const) {
    const b = new NetBuilder([6, 6, 3]);
    let id = b.add('pre', { kind: 'scaleShift', scale: tf.tensor1d([1 / 127.5, 1 / 127.5, 1 / 127.5]), shift: tf.tensor1d([-1, -1, -1]), activation: 'linear' }, b.input);
    id = b.add('conv', { kind: 'conv2d', filter: tf.tensor4d(gaussianArray(3 * 3 * 3 * 8, rng, 0, 0.5), [3, 3, 3, 8]), strides: [1, 1], pad: 'same', activation: act }, id);
    id = b.add('gap', { kind: 'globalAvgPool' }, id);
    id = b.add('fc', { kind: 'dense', kernel: tf.tensor2d(gaussianArray(8 * 4, rng, 0, 1), [8, 4]), bias: tf.tensor1d(gaussianArray(4, rng)), activation: 'linear' }, id);
    const clf = new NetClassifier('tiny', b.build(id), labels);
    const n = 5;
    const x = tf.tensor4d(gaussianArray(n * 108, createRng(3), 128, 50).map((a) => Math.min(255, Math.max(0, a))), [n, 6, 6, 3]);
    const before = tf.memory().numTensors;
    const res = await deepfool(clf, x, { maxIter: 50 });
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
    const xr = tf.add(x, tf.tensor4d(res.r, [n, 6, 6, 3])) as tf.Tensor4D;
    const pred = Int32Array.from((await clf.logits(xr)).argMax(1).dataSync());
    for (let i = 0; i < n; i++) {
      assert.equal(res.converged[i], 1);
      assert.notEqual(pred[i], res.originalLabel[i]);
      if (act === 'linear') assert.equal(res.iterations[i], 1, 'the engine gives exact gradients of an affine net');
    }
    tf.dispose([x, xr]);
    clf.dispose();
  }
});
