import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { tensorSource } from './image-source.js';

test('tensorSource returns the requested images in request order, repeats included, as tf.gather does', async () => {
  const x = tf.tensor4d(Float32Array.from({ length: 5 * 2 * 3 * 2 }, (_, i) => i * 0.5), [5, 2, 3, 2]);
  const source = tensorSource(x);
  assert.equal(source.size, 5);
  const idx = Int32Array.of(4, 0, 2, 4);
  const got = await source.get(idx);
  const want = tf.gather(x, tf.tensor1d(idx, 'int32'));
  assert.deepEqual(got.shape, [4, 2, 3, 2]);
  assert.deepEqual([...got.dataSync()], [...want.dataSync()]);
  assert.throws(() => source.get(Int32Array.of(1, 5)), (e: unknown) => e instanceof UapError && /index 5 is outside 0\.\.4/.test(e.message));
  tf.dispose([x, got, want]);
});
