import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { SingularValueDecomposition, Matrix } from 'ml-matrix';
import { AffineClassifier, MlpClassifier } from '../attacks/testing/affine-classifier.js';
import { UapError } from '../errors.js';
import { createRng, gaussianArray } from '../util/rng.js';
import {
  deepfoolNormals,
  gramMatrix,
  randomInSpan,
  randomUnitRows,
  rightSingularVectors,
  subspaceAnalysis,
  svdViaGram,
} from './subspace.js';

await tf.setBackend('cpu');

const shape = [4, 4, 3] as const;
const d = 48;

/** Binary affine classifier: logits (w·x − 100, 0); its boundary is one hyperplane with normal w. */
function binary(w: Float32Array): AffineClassifier {
  const W = new Float32Array(2 * d);
  W.set(w, 0);
  return new AffineClassifier(shape, W, [-100, 0], 'binary');
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

test('Gram-based SVD gives the singular values and right singular vectors of a direct SVD', () => {
  const n = 6;
  const dd = 20;
  const a = gaussianArray(n * dd, createRng(3));
  const g = gramMatrix(a, n, dd);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      assert.ok(Math.abs(g[i * n + j]! - dot(a.subarray(i * dd, i * dd + dd), a.subarray(j * dd, j * dd + dd))) < 1e-9);
    }
  }
  const ours = svdViaGram(a, n, dd);
  const rows = Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * dd, (i + 1) * dd)));
  const direct = new SingularValueDecomposition(new Matrix(rows), { autoTranspose: true });
  const ref = [...direct.diagonal].sort((x, y) => y - x);
  assert.equal(ours.singularValues.length, n);
  ref.forEach((s, i) => assert.ok(Math.abs(ours.singularValues[i]! - s) < 1e-6 * ref[0]!, `σ_${i}: ${ours.singularValues[i]} vs ${s}`));
  // Descending, and the right singular vectors Aᵀu_i/σ_i are orthonormal and match the direct ones up to sign.
  for (let i = 1; i < n; i++) assert.ok(ours.singularValues[i - 1]! >= ours.singularValues[i]!);
  const { v, k } = rightSingularVectors(a, n, dd, ours, n);
  assert.equal(k, n);
  const V = direct.rightSingularVectors; // dd × n, columns in the order of direct.diagonal
  for (let i = 0; i < n; i++) {
    const vi = v.subarray(i * dd, (i + 1) * dd);
    for (let j = 0; j < n; j++) {
      const ip = dot(vi, v.subarray(j * dd, (j + 1) * dd));
      assert.ok(Math.abs(ip - (i === j ? 1 : 0)) < 1e-4, `⟨v_${i}, v_${j}⟩ = ${ip}`);
    }
    const col = direct.diagonal.indexOf(ref[i]!);
    assert.ok(Math.abs(Math.abs(dot(vi, V.getColumn(col))) - 1) < 1e-4, `v_${i} matches up to sign`);
  }
});

test('normals of a binary affine classifier all point along w: a rank-1 spectrum', async () => {
  const w = gaussianArray(d, createRng(1));
  const clf = binary(w);
  const n = 10;
  // Images on both sides of the boundary w·x = 100.
  const x = tf.tensor4d(Float32Array.from({ length: n * d }, (_, i) => 30 + 100 * createRng(i)()), [n, ...shape]);
  const before = tf.memory().numTensors;
  const normals = await deepfoolNormals(clf, x, { batchSize: 4 });
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  assert.equal(normals.count, n);
  const wn = Math.sqrt(dot(w, w));
  for (let i = 0; i < n; i++) {
    const row = normals.rows.subarray(i * d, (i + 1) * d);
    assert.ok(Math.abs(dot(row, row) - 1) < 1e-5, 'unit rows');
    assert.ok(Math.abs(Math.abs(dot(row, w)) / wn - 1) < 1e-5, 'parallel to w');
  }
  const { singularValues: s } = svdViaGram(normals.rows, n, d);
  assert.ok(Math.abs(s[0]! - Math.sqrt(n)) < 1e-4, `σ₁ = √n, got ${s[0]}`);
  for (let i = 1; i < n; i++) assert.ok(s[i]! < 1e-3, `σ_${i + 1} ≈ 0, got ${s[i]}`);
  // Only one right singular vector survives the rank cut.
  const basis = rightSingularVectors(normals.rows, n, d, svdViaGram(normals.rows, n, d), 5);
  assert.equal(basis.k, 1);
  clf.dispose();
  x.dispose();
});

test('a 3-class affine classifier has normals in a 2-dimensional subspace; random unit vectors do not', async () => {
  const rng = createRng(7);
  const clf = new AffineClassifier(shape, gaussianArray(3 * d, rng, 0, 0.1), [0, 0, 0]);
  const n = 12;
  const x = tf.tensor4d(Float32Array.from({ length: n * d }, () => 255 * rng()), [n, ...shape]);
  const normals = await deepfoolNormals(clf, x);
  assert.equal(normals.count, n);
  const s = svdViaGram(normals.rows, n, d).singularValues;
  assert.ok(s[1]! > 0.05, 'two directions');
  for (let i = 2; i < n; i++) assert.ok(s[i]! < 1e-3 * s[0]!, `σ_${i + 1} ≈ 0, got ${s[i]}`);
  // n random unit vectors in d = 48 dimensions: no direction dominates, every σ well away from 0.
  const r = svdViaGram(randomUnitRows(n, d, createRng(2)), n, d).singularValues;
  assert.ok(r[n - 1]! > 0.3 && r[0]! < 2, `random spectrum flat: ${r[0]} … ${r[n - 1]}`);
  assert.ok(s[2]! < r[n - 1]!, "the normals' spectrum decays much faster");
  clf.dispose();
  x.dispose();
});

test('random vectors of the normals’ span fool far more than unstructured ones of the same ℓ2 norm', async () => {
  const w = gaussianArray(d, createRng(11));
  const clf = binary(w);
  const wn = Math.sqrt(dot(w, w));
  const xi = 50;
  // 8 images at distance ξ/2 from the boundary, 4 on each side: ±ξ·ŵ fools one side, a random direction
  // (component along ŵ ≈ ξ/√48 ≈ 0.14ξ) fools none.
  const n = 8;
  const base = new Float32Array(d).fill(128);
  const offset = (100 - dot(w, base)) / wn; // distance of `base` to the boundary along ŵ
  const imgs = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const t = offset + (i % 2 === 0 ? 1 : -1) * (xi / 2);
    for (let j = 0; j < d; j++) imgs[i * d + j] = base[j]! + (t * w[j]!) / wn;
  }
  const x = tf.tensor4d(imgs, [n, ...shape]);
  const before = tf.memory().numTensors;
  const res = await subspaceAnalysis(clf, x, { dims: [1, 5], xi, samples: 4, seed: 3, clip: false });
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  assert.equal(res.normals, n);
  assert.equal(res.d, d);
  assert.equal(res.singularValues.length, n);
  assert.equal(res.randomSingularValues.length, n);
  assert.deepEqual(res.foolingRates.map((f) => [f.dim, f.dimUsed]), [[1, 1], [5, 1]]);
  for (const f of res.foolingRates) {
    assert.equal(f.samples.length, 4);
    for (const s of f.samples) assert.equal(s, 0.5);
  }
  assert.equal(res.randomFoolingRate.foolingRate, 0);
  // The span vector really has ‖v‖₂ = ξ.
  const v = randomInSpan(res.basis.v, d, 1, xi, createRng(0));
  assert.ok(Math.abs(Math.sqrt(dot(v, v)) - xi) < 1e-3);
  for (const bad of [{ dims: [0], xi }, { dims: [1], xi: 0 }, { dims: [1], xi, maxImages: n - 1 }, { dims: [1], xi, samples: 0 }]) {
    await assert.rejects(subspaceAnalysis(clf, x, bad), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT');
  }
  clf.dispose();
  x.dispose();
});

test('normals of a nonlinear classifier are unit vectors, one per converged image', async () => {
  const s3 = [3, 3, 1] as const;
  const clf = new MlpClassifier(s3, 8, 4, createRng(5));
  const rng = createRng(6);
  const x = tf.tensor4d(Float32Array.from({ length: 6 * 9 }, () => 255 * rng()), [6, ...s3]);
  const before = tf.memory().numTensors;
  const progress: number[] = [];
  const normals = await deepfoolNormals(clf, x, { batchSize: 4, onProgress: (e) => progress.push(e.done) });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(progress, [4, 6]);
  assert.ok(normals.count >= 4 && normals.count <= 6, `converged on ${normals.count}`);
  assert.equal(normals.rows.length, normals.count * 9);
  for (let i = 0; i < normals.count; i++) {
    const row = normals.rows.subarray(i * 9, (i + 1) * 9);
    assert.ok(Math.abs(dot(row, row) - 1) < 1e-5);
    assert.ok(normals.norms[i]! > 0);
  }
  clf.dispose();
  x.dispose();
});
