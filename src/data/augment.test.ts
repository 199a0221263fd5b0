import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../tensor/backend.js';
import { createRng } from '../util/rng.js';
import { augmentImages, checkAugment, isIdentity } from './augment.js';

describe('augmentImages', () => {
  let x: tf.Tensor4D;
  before(async () => {
    await initBackend('wasm');
    x = tf.tidy(() => tf.randomUniform([4, 8, 8, 3], 0, 255, 'float32', 7) as tf.Tensor4D);
  });

  it('without options returns the images unchanged', async () => {
    const y = augmentImages(x, {}, createRng(1));
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!) < 1e-3);
    assert.ok(isIdentity({}) && !isIdentity({ flip: true }) && !isIdentity({ minScale: 0.8 }));
    y.dispose();
  });

  it('flip mirrors each image left–right or leaves it, and draws differ between images', async () => {
    const y = augmentImages(x, { flip: true }, createRng(2));
    const mirrored = tf.reverse(x, 2);
    const kinds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const yi = y.slice([i], [1]);
      const same = tf.tidy(() => tf.max(tf.abs(tf.sub(yi, x.slice([i], [1])))).dataSync()[0]!);
      const flipped = tf.tidy(() => tf.max(tf.abs(tf.sub(yi, mirrored.slice([i], [1])))).dataSync()[0]!);
      assert.ok(same < 1e-3 || flipped < 1e-3, `image ${i} is neither itself nor its mirror`);
      kinds.push(same < 1e-3 ? 'same' : 'flipped');
      yi.dispose();
    }
    const again = augmentImages(x, { flip: true }, createRng(2));
    assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(y, again))).dataSync()[0]!), 0, 'same seed, same draws');
    tf.dispose([y, mirrored, again]);
    assert.equal(new Set(kinds).size, 2, `this seed mirrors some images and not others: ${kinds.join()}`);
  });

  it('crops zoom in: a constant image stays constant, a gradient image keeps its range inside the original', async () => {
    const ramp = tf.tidy(() => tf.tile(tf.reshape(tf.linspace(0, 255, 8), [1, 1, 8, 1]), [2, 8, 1, 3]) as tf.Tensor4D);
    const y = augmentImages(ramp, { minScale: 0.5 }, createRng(5));
    const row = (await y.slice([0, 0, 0, 0], [1, 1, 8, 1]).data()) as Float32Array;
    assert.ok(row[0]! >= -1e-3 && row[7]! <= 255 + 1e-3);
    assert.ok(row[7]! - row[0]! < 255 - 1e-3, 'a crop of a ramp spans less than the full ramp');
    for (let k = 1; k < 8; k++) assert.ok(row[k]! >= row[k - 1]! - 1e-3, 'still increasing');
    tf.dispose([ramp, y]);
  });

  it('rejects a scale outside (0, 1]', () => {
    assert.throws(() => checkAugment({ minScale: 0 }), /minScale/);
    assert.throws(() => checkAugment({ minScale: 1.5 }), /minScale/);
  });
});
