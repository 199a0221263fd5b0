import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { takeRows } from './take_rows.js';
import { useWasm } from './testing/grad.js';

for (const backend of ['cpu', 'wasm']) test(`takeRows equals tf.gather on axis 0 (float and int, repeats, identity, empty), ${backend} backend`, async () => {
  if (backend === 'wasm') await useWasm();
  else await tf.setBackend('cpu');
  const f = tf.tensor3d(Float32Array.from({ length: 4 * 3 * 2 }, (_, i) => i / 3), [4, 3, 2]);
  const i = tf.tensor2d(Int32Array.from({ length: 4 * 5 }, (_, j) => j * 7 - 11), [4, 5], 'int32');
  for (const rows of [[3, 0, 3], [0, 1, 2, 3], [], [2]]) {
    for (const t of [f, i]) {
      const got = takeRows(t, rows);
      const want = tf.gather(t, tf.tensor1d(rows, 'int32'));
      assert.deepEqual(got.shape, want.shape);
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual([...got.dataSync()], [...want.dataSync()]);
      tf.dispose([got, want]);
    }
  }
  assert.throws(() => takeRows(f, [4]), RangeError);
  tf.dispose([f, i]);
});
