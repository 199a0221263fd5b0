import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { AffineClassifier } from '../attacks/testing/affine-classifier.js';
import type { Batch } from '../data/batch.js';
import { UapError } from '../errors.js';
import { dataUriBytes } from './png.js';
import { makeSamples } from './samples.js';

await tf.setBackend('cpu');

// 1×2×1 images; logits (x0, x1, 100): class 2 unless a pixel exceeds 100.
const clf = new AffineClassifier([1, 2, 1], [1, 0, 0, 1, 0, 0], [0, 0, 100]);
const batch: Batch = {
  images: new Float32Array([150, 20, 90, 120, 60, 40]),
  labels: new Int32Array([0, 1, -1]),
  n: 3,
  shape: [1, 2, 1],
  names: ['a.png', 'b.png', 'c.png'],
};
const v = new Float32Array([-60, 200]);

function pixels(uri: string): number[] {
  const png = PNG.sync.read(Buffer.from(dataUriBytes(uri)));
  assert.equal(png.width, 2);
  assert.equal(png.height, 1);
  return [png.data[0]!, png.data[4]!];
}

test('samples: top-1 labels on x and on clip(x + v), pictures of both, true labels where known', async () => {
  const before = tf.memory().numTensors;
  const set = await makeSamples(clf, batch, v, { model: 'affine', perturbation: 'runs/x' });
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  assert.deepEqual(set.shape, [1, 2, 1]);
  assert.equal(set.clip, true);
  assert.equal(set.model, 'affine');
  // clean: a → 0 (150), b → 1 (120), c → 2 (nothing above 100); perturbed: clip → (90, 220), (30, 255), (0, 240) → 1.
  assert.deepEqual(set.samples.map((s) => [s.clean.label, s.perturbed.label]), [['0', '1'], ['1', '1'], ['2', '1']]);
  assert.deepEqual(set.samples.map((s) => s.trueLabel), ['0', '1', undefined]);
  assert.deepEqual(pixels(set.samples[0]!.clean.src), [150, 20]);
  assert.deepEqual(pixels(set.samples[0]!.perturbed.src), [90, 220]);
  assert.deepEqual(pixels(set.samples[1]!.perturbed.src), [30, 255]);
  assert.ok(set.samples.every((s) => s.clean.prob! > 0 && s.clean.prob! <= 1));
  assert.equal(set.samples[2]!.name, 'c.png');
});

test('samples: without clipping the classifier sees x + v (the picture is still clipped)', async () => {
  // logits (−x0, 10): class 0 only when x0 < −10, which only an unclipped x + v reaches.
  const neg = new AffineClassifier([1, 2, 1], [-1, 0, 0, 0], [0, 10]);
  const one: Batch = { images: new Float32Array([20, 7]), labels: new Int32Array([1]), n: 1, shape: [1, 2, 1], names: ['x'] };
  const w = new Float32Array([-50, 0]);
  const clipped = await makeSamples(neg, one, w);
  const raw = await makeSamples(neg, one, w, { clip: false });
  assert.equal(clipped.samples[0]!.clean.label, '1');
  assert.equal(clipped.samples[0]!.perturbed.label, '1');
  assert.equal(raw.samples[0]!.perturbed.label, '0');
  assert.equal(raw.clip, false);
  assert.deepEqual(pixels(raw.samples[0]!.perturbed.src), [0, 7]);
  neg.dispose();
});

test('samples: wrong sizes are refused', async () => {
  await assert.rejects(makeSamples(clf, batch, new Float32Array(3)), (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT');
  await assert.rejects(makeSamples(clf, { ...batch, shape: [2, 1, 1] }, v), (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT');
});
