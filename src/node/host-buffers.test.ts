import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { randomTensor, relativeError, seededRandom, useWasm } from '../tensor/testing/grad.js';
import { HostBuffers, readValues, tensorOf } from './host-buffers.js';
import { loadModel } from './model-files.js';
import { OrtClassifier } from './ort-classifier.js';
import { predictBatch } from '../models/predict.js';

describe('host buffers for the ORT engine', () => {
  before(() => useWasm());

  it('readValues copies a wasm tensor into a kept buffer, which comes back on the next take', () => {
    const buffers = new HostBuffers();
    const x = tf.tensor1d([1, 2, 3, 4]);
    const { values, owned } = readValues(x, buffers);
    assert.equal(owned, true);
    assert.deepEqual([...values], [1, 2, 3, 4]);
    values[0] = 99; // a copy: the tensor keeps its values
    assert.deepEqual([...x.dataSync()], [1, 2, 3, 4]);
    buffers.give(values);
    assert.equal(buffers.take(4), values);
    assert.notEqual(buffers.take(4), values);
    x.dispose();
  });

  it('tensorOf: overwriting the buffer afterwards leaves the tensor unchanged (tfjs-wasm copies it in)', () => {
    const buf = Float32Array.from([5, 6, 7]);
    const t = tensorOf<tf.Rank.R1>(buf, [3]);
    buf.fill(0);
    assert.deepEqual([...t.dataSync()], [5, 6, 7]);
    t.dispose();
  });

  it('ORT results written into reused buffers: pieces at their offsets, earlier results not overwritten', async () => {
    // rowsPerPass 2 with k = 3 runs 5 images as 5 one-image pieces; the default runs them in one piece
    const base = await loadModel('mnist');
    const small = await OrtClassifier.create(base, { threads: 1, rowsPerPass: 2 }, false);
    const whole = await OrtClassifier.create(base, { threads: 1 }, false);
    try {
      const x = randomTensor<tf.Rank.R4>([5, 28, 28, 1], seededRandom(3), 127.5, 127.5);
      const y = randomTensor<tf.Rank.R4>([5, 28, 28, 1], seededRandom(4), 127.5, 127.5);
      const classes = tf.tensor2d([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4], [5, 3], 'int32');
      const a = await small.jacobian(x, classes);
      const keep = a.grads.clone();
      const b = await whole.jacobian(x, classes);
      assert.ok(relativeError(a.grads, b.grads) < 1e-5);
      assert.ok(relativeError(a.logits, b.logits) < 1e-5);
      const c = await small.jacobian(y, classes); // reuses the buffer a came from
      assert.equal(relativeError(a.grads, keep), 0);
      assert.ok(relativeError(c.grads, a.grads) > 1e-2);
      const va = await small.vjp(x, (l) => tf.softmax(l));
      const vb = await whole.vjp(x, (l) => tf.softmax(l));
      assert.ok(relativeError(va.grad, vb.grad) < 1e-5);
      assert.ok(relativeError(va.logits, b.logits) < 1e-5);
      tf.dispose([x, y, classes, a.grads, a.logits, keep, b.grads, b.logits, c.grads, c.logits, va.grad, va.logits, vb.grad, vb.logits]);
    } finally {
      await small.release();
      await whole.release();
      base.dispose();
    }
  });
});

describe('perturbedLogits: the sum and the clip inside the ORT graph', () => {
  before(() => useWasm());

  it('equals logits of clip(x + v), and of x + v without the clip', async () => {
    const base = await loadModel('mnist');
    const ort = await OrtClassifier.create(base, { threads: 1 }, false);
    try {
      // pixels near the ends of 0..255 and a v of ±60: the clip changes many of them
      const x = randomTensor<tf.Rank.R4>([3, 28, 28, 1], seededRandom(8), 127.5, 127.5);
      const v = Float32Array.from({ length: 28 * 28 }, (_, i) => (i % 3 === 0 ? 60 : -60));
      const vt = tf.tensor3d(v, [28, 28, 1]);
      for (const clip of [true, false]) {
        const sum = tf.tidy(() => (clip ? tf.clipByValue(tf.add(x, vt), 0, 255) : tf.add(x, vt)) as tf.Tensor4D);
        const want = await base.logits(sum);
        const got = await ort.perturbedLogits(x, v, clip);
        assert.ok(relativeError(got, want) < 1e-5, `clip ${clip}: ${relativeError(got, want)}`);
        tf.dispose([sum, want, got]);
      }
      const clipped = await ort.perturbedLogits(x, v, true);
      const free = await ort.perturbedLogits(x, v, false);
      assert.ok(relativeError(clipped, free) > 1e-3, 'the clip must matter for this x and v');
      tf.dispose([x, vt, clipped, free]);
    } finally {
      await ort.release();
      base.dispose();
    }
  });

  it('predictBatch uses it when the classifier has it', async () => {
    const calls: boolean[] = [];
    const fake = {
      id: 'fake',
      inputShape: [2, 2, 1] as const,
      labels: { ids: ['a', 'b'], names: ['a', 'b'] },
      backend: 'test',
      logits: () => Promise.reject(new Error('logits must not be called')),
      jacobian: () => Promise.reject(new Error('unused')),
      vjp: () => Promise.reject(new Error('unused')),
      dispose: () => undefined,
      perturbedLogits: (_x: tf.Tensor4D, v: Float32Array, clip: boolean) => {
        calls.push(clip);
        assert.deepEqual([...v], [1, 2, 3, 4]);
        return Promise.resolve(tf.tensor2d([0, 1, 1, 0], [2, 2]));
      },
    };
    const x = tf.zeros([2, 2, 2, 1]) as tf.Tensor4D;
    const v = tf.tensor3d([1, 2, 3, 4], [2, 2, 1]);
    assert.deepEqual([...(await predictBatch(fake, x, { v, clip: true }))], [1, 0]);
    assert.deepEqual(calls, [true]);
    tf.dispose([x, v]);
  });
});
