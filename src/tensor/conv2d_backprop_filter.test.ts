import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerConv2DBackpropFilterForWasm } from './conv2d_backprop_filter.js';

function relErr(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

const cases: { x: [number, number, number, number]; f: [number, number, number, number]; s: number; pad: 'same' | 'valid' }[] = [
  { x: [2, 7, 6, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 9, 8, 2], f: [3, 2, 2, 5], s: 2, pad: 'same' },
  { x: [1, 8, 8, 3], f: [5, 5, 3, 2], s: 1, pad: 'valid' },
  { x: [3, 7, 7, 1], f: [2, 2, 1, 3], s: 2, pad: 'valid' },
];

test('wasm filter gradient of conv2d matches the cpu backend', async () => {
  await tf.setBackend('cpu');
  registerConv2DBackpropFilterForWasm();
  for (const c of cases) {
    const xs = tf.randomNormal(c.x, 0, 1, 'float32', 1).dataSync().slice();
    const fs = tf.randomNormal(c.f, 0, 1, 'float32', 2).dataSync().slice();
    const grads: Float32Array[] = [];
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const g = tf.tidy(() => {
        const x = tf.tensor4d(xs, c.x);
        const loss = (f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, c.s, c.pad)));
        return tf.grad(loss)(tf.tensor4d(fs, c.f));
      });
      grads.push(g.dataSync() as Float32Array);
      g.dispose();
    }
    assert.ok(relErr(grads[1]!, grads[0]!) < 1e-4, `case ${JSON.stringify(c)}: rel err ${relErr(grads[1]!, grads[0]!)}`);
  }
});
