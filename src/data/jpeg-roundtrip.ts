import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { UapError } from '../errors.js';

/**
 * An image as a photo-sharing site leaves it: encoded as a baseline JPEG at `quality` and decoded again (jpeg-js,
 * pure JavaScript, so it runs in a browser too). Used by the `jpeg` augmentation: v is trained on what survives the
 * re-encoding. The gradient of the attack goes straight through (the re-encoding is treated as the identity in the
 * backward pass: its true derivative is zero almost everywhere, quantisation being piecewise constant), as in
 * Shin & Song's "JPEG-resistant adversarial images" (2017) and BPDA (Athalye et al. 2018).
 *
 * `x` is one image, HWC float pixels 0..255, C = 1 or 3 (values are rounded and clipped to bytes first, as a file
 * would be). Returns the decoded pixels, same layout.
 */
export function jpegRoundTrip(x: Float32Array, height: number, width: number, channels: 1 | 3, quality: number): Float32Array {
  const n = height * width;
  const rgba = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    for (let k = 0; k < 3; k++) rgba[p * 4 + k] = Math.min(255, Math.max(0, Math.round(x[p * channels + (channels === 1 ? 0 : k)]!)));
    rgba[p * 4 + 3] = 255;
  }
  const encoded = jpeg.encode({ data: rgba, width, height }, Math.round(quality)).data;
  const decoded = jpeg.decode(encoded, { useTArray: true, formatAsRGBA: true }).data;
  const out = new Float32Array(n * channels);
  for (let p = 0; p < n; p++) {
    if (channels === 1) out[p] = 0.299 * decoded[p * 4]! + 0.587 * decoded[p * 4 + 1]! + 0.114 * decoded[p * 4 + 2]!;
    else for (let k = 0; k < 3; k++) out[p * 3 + k] = decoded[p * 4 + k]!;
  }
  return out;
}

/**
 * Every image of a batch (NHWC pixels) through {@link jpegRoundTrip}, each at its own quality drawn uniformly from
 * `quality` = [lo, hi] with `rng` (one draw per image, in batch order). The caller disposes the result.
 */
export async function jpegImages(x: tf.Tensor4D, quality: readonly [number, number], rng: () => number): Promise<tf.Tensor4D> {
  const [n, h, w, c] = x.shape;
  if (c !== 1 && c !== 3) throw new UapError('BAD_ARGUMENT', `the jpeg augmentation needs 1 or 3 channels, got ${c}`, 'augment');
  const data = (await x.data()) as Float32Array;
  const size = h * w * c;
  const out = new Float32Array(data.length);
  for (let i = 0; i < n; i++) {
    const q = quality[0] + (quality[1] - quality[0]) * rng();
    out.set(jpegRoundTrip(data.subarray(i * size, (i + 1) * size), h, w, c, q), i * size);
  }
  return tf.tensor4d(out, x.shape);
}
