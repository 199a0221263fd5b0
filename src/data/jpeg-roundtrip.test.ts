import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { jpegImages, jpegRoundTrip } from './jpeg-roundtrip.js';

/** The jpeg augmentation really re-encodes: the output differs from the input, by what a JPEG of that quality does. */

const H = 64;
const W = 48;
/** A photo-like image: smooth gradients plus fine texture (which JPEG removes first). */
const image = Float32Array.from({ length: H * W * 3 }, (_, i) => {
  const p = Math.floor(i / 3);
  const [y, x, k] = [Math.floor(p / W), p % W, i % 3];
  return 30 + 2 * x + y + 25 * k + 12 * Math.sin(x * 1.7 + y * 2.3 + k); // within 0..255
});
const mae = (a: Float32Array, b: ArrayLike<number>) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

test('jpegRoundTrip changes the image, more at lower quality, as much as libjpeg at that quality does', async () => {
  const errors: number[] = [];
  for (const q of [30, 75, 95]) {
    const out = jpegRoundTrip(image, H, W, 3, q);
    const err = mae(image, out);
    errors.push(err);
    // The reference: libjpeg-turbo (sharp) at the same quality, without chroma subsampling (as jpeg-js encodes).
    const raw = Buffer.from(Uint8Array.from(image, (v) => Math.round(v)));
    const ref = await sharp(await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: q, chromaSubsampling: '4:4:4' }).toBuffer()).raw().toBuffer();
    const refErr = mae(image, ref);
    assert.ok(err > 0.2, `q${q}: re-encoded (MAE ${err.toFixed(2)})`);
    assert.ok(Math.abs(err - refErr) < Math.max(1, 0.5 * refErr), `q${q}: MAE ${err.toFixed(2)} vs libjpeg ${refErr.toFixed(2)}`);
  }
  assert.ok(errors[0]! > errors[1]! && errors[1]! > errors[2]!, `error falls with quality: ${errors.map((e) => e.toFixed(2)).join(', ')}`);
  // Grey: one channel in, one out.
  const grey = jpegRoundTrip(Float32Array.from({ length: H * W }, (_, i) => 100 + (i % 7)), H, W, 1, 50);
  assert.equal(grey.length, H * W);
});

test('jpegImages: each image of a batch at its own drawn quality', async () => {
  const x = tf.tensor4d(Float32Array.from({ length: 2 * H * W * 3 }, (_, i) => image[i % image.length]!), [2, H, W, 3]);
  const draws = [0, 1]; // quality 30 for the first image, 95 for the second
  const y = await jpegImages(x, [30, 95], () => draws.shift()!);
  const d = (await y.data()) as Float32Array;
  const size = H * W * 3;
  assert.deepEqual(Array.from(d.subarray(0, size)), Array.from(jpegRoundTrip(image, H, W, 3, 30)));
  assert.deepEqual(Array.from(d.subarray(size)), Array.from(jpegRoundTrip(image, H, W, 3, 95)));
  tf.dispose([x, y]);
});
