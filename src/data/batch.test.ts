import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { batchTensor, checkBatch, chunks, concatBatches, imageAt, selectBatch, sliceBatch, type Batch } from './batch.js';
import { wideBatchSource } from './batch-source.js';

function toy(n: number): Batch {
  return {
    images: Float32Array.from({ length: n * 2 * 2 * 1 }, (_, i) => i),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    n,
    shape: [2, 2, 1],
    names: Array.from({ length: n }, (_, i) => `img${i}`),
  };
}

test('slice, select, concat, imageAt', () => {
  const b = toy(5);
  const s = sliceBatch(b, 1, 3);
  assert.equal(s.n, 2);
  assert.deepEqual([...s.images], [4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual([...s.labels], [1, 2]);
  assert.deepEqual(s.names, ['img1', 'img2']);
  s.images[0] = -1;
  assert.equal(b.images[4], 4, 'slices are copies');
  assert.equal(sliceBatch(b, 3, 99).n, 2);
  assert.throws(() => sliceBatch(b, 4, 2), RangeError);
  const sel = selectBatch(b, [4, 0]);
  assert.deepEqual([...sel.images], [16, 17, 18, 19, 0, 1, 2, 3]);
  assert.deepEqual(sel.names, ['img4', 'img0']);
  assert.throws(() => selectBatch(b, [5]), RangeError);
  const c = concatBatches([sliceBatch(b, 0, 2), sliceBatch(b, 2)]);
  assert.deepEqual(c, { ...b, shape: [2, 2, 1] });
  assert.throws(() => concatBatches([b, { ...toy(1), shape: [1, 4, 1] }]), UapError);
  assert.deepEqual([...imageAt(b, 2)], [8, 9, 10, 11]);
  assert.equal(checkBatch(b), b);
  assert.throws(() => checkBatch({ ...b, n: 4 }, 'x'), (e: unknown) => e instanceof UapError && /x: 20 pixel values for 4 images/.test(e.message));
  assert.deepEqual([...chunks(5, 2)], [[0, 2], [2, 4], [4, 5]]);
});

test('batchTensor makes an NHWC tensor of a range, independent of the batch', () => {
  const b = toy(4);
  const before = tf.memory().numTensors;
  const t = batchTensor(b, 1, 3);
  assert.deepEqual(t.shape, [2, 2, 2, 1]);
  b.images[4] = 1000;
  assert.deepEqual(Array.from(t.dataSync()), [4, 5, 6, 7, 8, 9, 10, 11]);
  t.dispose();
  assert.equal(tf.memory().numTensors, before);
  const all = batchTensor(b);
  assert.deepEqual(all.shape, [4, 2, 2, 1]);
  all.dispose();
});

test('wideBatchSource: get is the centre window of each photo, getWide the whole photo; too small a photo is refused', async () => {
  // 2 photos of 4×5×1 whose value is 100·i + 10·y + x; the view is 2×3: rows 1–2, columns 1–3.
  const images = new Float32Array(2 * 4 * 5);
  for (let i = 0; i < 2; i++) for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) images[(i * 4 + y) * 5 + x] = 100 * i + 10 * y + x;
  const b: Batch = { images, labels: Int32Array.of(0, 1), n: 2, shape: [4, 5, 1], names: ['a', 'b'] };
  const source = wideBatchSource(b, [2, 3]);
  const centre = source.get(Int32Array.of(1, 0)) as tf.Tensor4D;
  assert.deepEqual(centre.shape, [2, 2, 3, 1]);
  assert.deepEqual([...(await centre.data())], [111, 112, 113, 121, 122, 123, 11, 12, 13, 21, 22, 23]);
  const whole = (await source.getWide!(Int32Array.of(1))) as tf.Tensor4D;
  assert.deepEqual(whole.shape, [1, 4, 5, 1]);
  assert.equal((await whole.data())[19], 134);
  tf.dispose([centre, whole]);
  assert.throws(() => wideBatchSource(b, [5, 3]), /smaller than the view/);
});
