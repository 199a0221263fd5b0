import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { jpegImages } from '../data/jpeg-roundtrip.js';
import { createRng, gaussianArray } from '../util/rng.js';
import { lpNorm } from './project.js';
import { sgdPerturbation } from './sgd.js';
import { batchGradient } from './sgd-engine.js';
import { lossGradient } from './sgd-loss.js';
import { MlpClassifier } from './testing/affine-classifier.js';

/** The jpeg augmentation: x + v is really re-encoded in the forward pass, and the gradient goes straight through. */

await tf.setBackend('cpu');
const SHAPE = [16, 16, 3] as const;
const D = 16 * 16 * 3;
const mlp = new MlpClassifier(SHAPE, 16, 5, createRng(3));
const N = 12;
const X = tf.tensor4d(gaussianArray(N * D, createRng(5), 128, 30).map((a) => Math.min(255, Math.max(0, a))), [N, ...SHAPE]);
const settings = { loss: 'ce' as const, kappa: 0, targeted: false, clip: true };

test('batchGradient with a re-encoding = the gradient at the re-encoded input (straight through), and differs from none', async () => {
  const v = gaussianArray(D, createRng(7), 0, 5);
  const cls = new Int32Array(N).map((_, i) => i % 5);
  const request = { v, cls, batchSize: N };
  const st = await batchGradient(mlp, X, request, settings, (input) => jpegImages(input, [75, 75], () => 0));
  // Reference: the vjp at jpeg(clip(x + v)), masked by clip's derivative, summed over the batch.
  const ref = await tf.tidy(() => {
    const sum = tf.add(X, tf.tensor3d(v, [...SHAPE])) as tf.Tensor4D;
    return { input: tf.clipByValue(sum, 0, 255) as tf.Tensor4D, mask: tf.logicalAnd(tf.greaterEqual(sum, 0), tf.lessEqual(sum, 255)).toFloat() };
  });
  const seen = await jpegImages(ref.input, [75, 75], () => 0);
  const clsT = tf.tensor1d(cls, 'int32');
  const out = await mlp.vjp(seen, (z) => lossGradient(z, clsT, 'ce', 0, false, N));
  const want = (await tf.sum(tf.mul(out.grad, ref.mask), 0).data()) as Float32Array;
  let worst = 0;
  for (let i = 0; i < D; i++) worst = Math.max(worst, Math.abs(st.grad[i]! - want[i]!));
  assert.ok(worst < 1e-6 * Math.max(1, lpNorm(want, 'inf')), `max difference ${worst}`);
  const plain = await batchGradient(mlp, X, request, settings);
  let moved = 0;
  for (let i = 0; i < D; i++) moved = Math.max(moved, Math.abs(plain.grad[i]! - st.grad[i]!));
  assert.ok(moved > 1e-4 * lpNorm(plain.grad, 'inf'), 'the re-encoding changes the gradient');
  tf.dispose([ref.input, ref.mask, seen, clsT, out.grad, out.logits]);
});

test('SGD with augment jpeg stays in the ball and differs from SGD without it; bad qualities are refused', async () => {
  const run = (jpeg?: readonly [number, number]) => sgdPerturbation(mlp, X, { norm: 'inf', xi: 12, epochs: 2, seed: 1, batchSize: 6, augment: jpeg ? { jpeg } : undefined });
  const a = await run([50, 95]);
  const b = await run();
  assert.ok(lpNorm(a.v, 'inf') <= 12 + 1e-4);
  assert.ok(a.v.some((x, i) => x !== b.v[i]), 'jpeg changed the steps');
  await assert.rejects(run([90, 60]), /jpeg qualities must be 1 ≤ lo ≤ hi ≤ 100/);
});
