import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useWasm } from '../tensor/testing/grad.js';
import { scratchTensors } from './scratch-tensor.js';

/**
 * The scratch array is reused only where the backend copies the values as the tensor is made: a tensor made
 * earlier must keep its values after later ones overwrite the scratch (if a tfjs upgrade made wasm keep the
 * array, the first tensor would change and this fails), and the shapes may shrink and grow.
 */
for (const backend of ['wasm', 'cpu']) {
  test(`scratchTensors on ${backend}: earlier tensors keep their values`, async () => {
    if (backend === 'wasm') await useWasm();
    else await tf.setBackend('cpu');
    const make = scratchTensors();
    const a = make([2, 2, 2, 1], (out) => out.fill(1));
    const b = make([1, 2, 2, 1], (out) => out.fill(2));
    const c = make([3, 2, 2, 1], (out) => out.forEach((_, i) => (out[i] = i)));
    assert.deepEqual(Array.from(a.dataSync()), new Array(8).fill(1));
    assert.deepEqual(Array.from(b.dataSync()), new Array(4).fill(2));
    assert.deepEqual(Array.from(c.dataSync()), Array.from({ length: 12 }, (_, i) => i));
    tf.dispose([a, b, c]);
  });
}
