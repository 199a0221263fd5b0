import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { createRng, gaussianArray } from '../util/rng.js';
import { l1Threshold, lpNorm, projectLp, type LpNorm } from './project.js';

await tf.setBackend('cpu');

const NORMS: LpNorm[] = ['inf', 2, 1];

function dist2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

test('projection lands in the ball, is the identity inside it, and is idempotent', () => {
  const rng = createRng(1);
  for (const p of NORMS) {
    for (let trial = 0; trial < 20; trial++) {
      const v = gaussianArray(50, rng, 0, 10);
      const xi = 0.5 + 30 * rng();
      const w = projectLp(v, xi, p);
      assert.ok(lpNorm(w, p) <= xi * (1 + 1e-6), `p=${p}: ‖w‖ = ${lpNorm(w, p)} > ξ = ${xi}`);
      const ww = projectLp(w, xi, p);
      assert.ok(dist2(w, ww) <= 1e-5 * xi, `p=${p}: not idempotent`);
      // A point strictly inside is returned as is.
      const inside = projectLp(v, lpNorm(v, p) * 1.01, p);
      assert.deepEqual(inside, v);
      assert.notEqual(inside, v, 'returns a copy, never the input');
    }
  }
});

test('ℓ∞ clips and ℓ2 scales, on closed-form cases', () => {
  const v = new Float32Array([3, -4, 0.5, 0]);
  assert.deepEqual(projectLp(v, 1, 'inf'), new Float32Array([1, -1, 0.5, 0]));
  // ‖v‖₂ = √(9 + 16 + 0.25)
  const n = Math.sqrt(25.25);
  const w = projectLp(v, 2, 2);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(w[i]! - (v[i]! * 2) / n) < 1e-6);
});

test('ℓ1 projection on a closed-form case: soft-thresholding with Σ = ξ', () => {
  // v = (3, −1, 0.5), ξ = 2: θ = 1 (3 − 1 = 2, the others vanish) → w = (2, 0, 0).
  assert.deepEqual(projectLp(new Float32Array([3, -1, 0.5]), 2, 1), new Float32Array([2, 0, 0]));
  // v = (3, −2, 0.5), ξ = 3: θ = (3 + 2 − 3)/2 = 1 → w = (2, −1, 0).
  assert.equal(l1Threshold([3, -2, 0.5], 3), 1);
  assert.deepEqual(projectLp(new Float32Array([3, -2, 0.5]), 3, 1), new Float32Array([2, -1, 0]));
});

test('ℓ1 projection satisfies the KKT conditions and beats random feasible points', () => {
  const rng = createRng(7);
  for (let trial = 0; trial < 30; trial++) {
    const d = 2 + Math.floor(rng() * 8);
    const v = gaussianArray(d, rng, 0, 3);
    const xi = 0.2 + rng() * lpNorm(v, 1) * 0.9; // strictly inside ‖v‖₁: the projection is on the sphere
    const w = projectLp(v, xi, 1);
    // KKT: w = sign(v)·max(|v| − θ, 0) for one θ ≥ 0, with Σ|w| = ξ.
    assert.ok(Math.abs(lpNorm(w, 1) - xi) < 1e-5 * Math.max(1, xi));
    let theta = -1;
    for (let i = 0; i < d; i++) {
      if (w[i] !== 0) {
        assert.equal(Math.sign(w[i]!), Math.sign(v[i]!));
        const t = Math.abs(v[i]!) - Math.abs(w[i]!);
        if (theta < 0) theta = t;
        else assert.ok(Math.abs(theta - t) < 1e-5, 'one common threshold');
      }
    }
    for (let i = 0; i < d; i++) if (w[i] === 0) assert.ok(Math.abs(v[i]!) <= theta + 1e-5, 'zeroed only below θ');
    // No feasible point is closer: random points in the ℓ1 ball (random directions, scaled inside).
    const best = dist2(v, w);
    for (let k = 0; k < 300; k++) {
      const z = gaussianArray(d, rng);
      // Mix a perturbation of w with random points: local and global competitors.
      const cand = Float32Array.from(z, (zi, i) => (k % 2 === 0 ? w[i]! + 0.05 * zi : zi));
      const c = projectLp(cand, xi, 'inf'); // any map into something, then scale into the ℓ1 ball
      const n1 = lpNorm(c, 1);
      const s = n1 > xi ? xi / n1 : 1;
      for (let i = 0; i < d; i++) c[i] = c[i]! * s;
      assert.ok(dist2(v, c) >= best - 1e-5, `a feasible point is closer than the projection (d=${d})`);
    }
  }
});

test('tensor input gives the same result as the array path', () => {
  const rng = createRng(3);
  const v = gaussianArray(2 * 3 * 2, rng, 0, 5);
  for (const p of NORMS) {
    const t = tf.tensor3d(v, [2, 3, 2]);
    const out = projectLp(t, 2, p);
    assert.deepEqual(out.shape, [2, 3, 2]);
    const a = out.dataSync();
    const b = projectLp(v, 2, p);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6);
    tf.dispose([t, out]);
  }
});

test('ξ ≤ 0 and unknown norms are rejected with BAD_ARGUMENT naming the option', () => {
  const v = new Float32Array([1, 2]);
  for (const xi of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => projectLp(v, xi, 2), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && /xi/.test(e.message));
  }
  assert.throws(
    () => projectLp(v, 1, 3 as unknown as LpNorm),
    (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && /norm/.test(e.message),
  );
});
