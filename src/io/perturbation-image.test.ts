import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addPerturbation, hconcatImages, maxAbs, perturbationToImage, perturbedImage, pixelsToImage } from './perturbation-image.js';

test('perturbationToImage maps [−max|v|, +max|v|] to [0, 255]', () => {
  const v = new Float32Array([-10, 0, 10, 5, -5, 2.5]);
  const im = perturbationToImage(v, [1, 2, 3], { channels: 3 });
  assert.equal(im.width, 2);
  assert.equal(im.height, 1);
  assert.deepEqual([...im.data], [0, 128, 255, 191, 64, 159]);
  const rgba = perturbationToImage(v, [1, 2, 3]);
  assert.deepEqual([...rgba.data], [0, 128, 255, 255, 191, 64, 159, 255]);
  // Fixed scale: values beyond it saturate.
  assert.deepEqual([...perturbationToImage(v, [1, 2, 3], { channels: 3, scale: 5 }).data], [0, 128, 255, 255, 0, 191]);
  // Zero perturbation → mid grey, not NaN.
  assert.deepEqual([...perturbationToImage(new Float32Array(3), [1, 1, 3], { channels: 3 }).data], [128, 128, 128]);
  // Greyscale → grey RGB.
  assert.deepEqual([...perturbationToImage(new Float32Array([-1, 1]), [1, 2, 1], { channels: 3 }).data], [0, 0, 0, 255, 255, 255]);
  assert.equal(maxAbs(v), 10);
});

test('addPerturbation broadcasts v over images and clips', () => {
  const x = new Float32Array([0, 100, 250, 10, 20, 30]);
  const v = new Float32Array([-5, 5, 10]);
  assert.deepEqual(addPerturbation(x, v), new Float32Array([0, 105, 255, 5, 25, 40]));
  assert.deepEqual(addPerturbation(x, v, false), new Float32Array([-5, 105, 260, 5, 25, 40]));
  assert.throws(() => addPerturbation(x, new Float32Array(4)), RangeError);
  assert.deepEqual([...perturbedImage(x.subarray(0, 3), v, [1, 1, 3], 3).data], [0, 105, 255]);
  assert.deepEqual([...pixelsToImage(new Float32Array([-3, 127.6, 300]), [1, 1, 3], 3).data], [0, 128, 255]);
});

test('hconcatImages puts images side by side', () => {
  const a = pixelsToImage(new Float32Array([1, 2]), [1, 2, 1], 3);
  const b = pixelsToImage(new Float32Array([9]), [1, 1, 1], 3);
  const c = hconcatImages([a, b], 1, 0);
  assert.equal(c.width, 4);
  assert.deepEqual([...c.data], [1, 1, 1, 2, 2, 2, 0, 0, 0, 9, 9, 9]);
});
