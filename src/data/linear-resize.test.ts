import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng, gaussianArray } from '../util/rng.js';
import { linearResize, linearResizeAdjoint, resizeMatrix } from './linear-resize.js';
import { resampleFloat } from './resample.js';

await tf.setBackend('cpu');

test('linearResize is the library’s photo resize (data/resample.ts) of each image and channel', async () => {
  const [h, w, oh, ow] = [10, 7, 4, 9];
  const px = Float32Array.from(gaussianArray(2 * h * w * 3, createRng(1), 128, 50));
  const y = (await linearResize(tf.tensor4d(px, [2, h, w, 3]), oh, ow).data()) as Float32Array;
  for (let i = 0; i < 2; i++) {
    const ref = resampleFloat({ data: px.subarray(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h, channels: 3 }, { resizeWidth: ow, resizeHeight: oh, left: 0, top: 0, width: ow, height: oh }, 3);
    for (let k = 0; k < ref.length; k++) assert.ok(Math.abs(y[i * ref.length + k]! - ref[k]!) < 1e-3, `image ${i}, value ${k}: ${y[i * ref.length + k]} vs ${ref[k]}`);
  }
  // Rows of R sum to 1 (a constant stays constant), and R(n → n) is the identity.
  const r = resizeMatrix(224, 192);
  for (let j = 0; j < 192; j++) assert.ok(Math.abs(r.subarray(j * 224, (j + 1) * 224).reduce((s, a) => s + a, 0) - 1) < 1e-5);
  const eye = resizeMatrix(5, 5);
  assert.deepEqual(Array.from(eye), Array.from({ length: 25 }, (_, k) => (k % 6 === 0 ? 1 : 0)));
});

test('linearResizeAdjoint is the adjoint: ⟨R x, g⟩ = ⟨x, Rᵀ g⟩, and the gradient of Σ g·R(x) by autodiff', async () => {
  const x = tf.tensor4d(gaussianArray(2 * 12 * 9 * 3, createRng(2)), [2, 12, 9, 3]);
  const g = tf.tensor4d(gaussianArray(2 * 5 * 7 * 3, createRng(3)), [2, 5, 7, 3]);
  const lhs = tf.sum(tf.mul(linearResize(x, 5, 7), g)).dataSync()[0]!;
  const back = linearResizeAdjoint(g, 12, 9);
  assert.deepEqual(back.shape, [2, 12, 9, 3]);
  const rhs = tf.sum(tf.mul(x, back)).dataSync()[0]!;
  assert.ok(Math.abs(lhs - rhs) < 1e-3 * (Math.abs(lhs) + 1), `${lhs} vs ${rhs}`);
  const auto = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(linearResize(xx as tf.Tensor4D, 5, 7), g)))(x);
  assert.ok(tf.max(tf.abs(tf.sub(auto, back))).dataSync()[0]! < 1e-4);
  tf.dispose([x, g, back, auto]);
});
