import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { scratchTensors } from './scratch-tensor.js';

/**
 * Random access to a set of images (pixels 0..255, NHWC) without holding them all in one tensor:
 * attacks ask for the images at given indices, one batch at a time. Algorithm 1 visits X in a
 * shuffled order, so sources are indexed, not streamed.
 */
export interface ImageSource {
  /** Number of images. */
  readonly size: number;
  /** Pixels [indices.length, H, W, C] of the images at `indices`; the caller disposes the tensor. */
  get(indices: Int32Array): Promise<tf.Tensor4D> | tf.Tensor4D;
  /**
   * Optional: the same images with the photo around them, [indices.length, H', W', C] with H' ≥ H, W' ≥ W, the
   * image `get` returns being the centre H×W of it (what the `shift` augmentation draws its windows from).
   */
  getWide?(indices: Int32Array): Promise<tf.Tensor4D> | tf.Tensor4D;
}

/**
 * A Tensor4D as an ImageSource (the tensor stays owned by the caller). The pixels are read once, on the first
 * request, and each batch is then a copy of whole images: tfjs-backend-wasm's gather (and slice) of image rows
 * runs element by element, ~120 ms for 32 images of 224×224×3 against ~10 ms for the copy, which was
 * half of an ORT SGD epoch (measured). The price is a second copy of X in memory; batchSource, over a
 * Batch's own arrays, has none.
 */
export function tensorSource(x: tf.Tensor4D): ImageSource {
  const [n, h, w, c] = x.shape;
  const size = h * w * c;
  let pixels: Float32Array | undefined;
  const make = scratchTensors();
  return {
    size: n,
    get: (indices) => {
      pixels ??= x.dataSync() as Float32Array;
      for (const i of indices) if (!(i >= 0 && i < n)) throw new UapError('BAD_ARGUMENT', `image index ${i} is outside 0..${n - 1}`, 'indices');
      return make([indices.length, h, w, c], (out) => indices.forEach((i, j) => out.set(pixels!.subarray(i * size, (i + 1) * size), j * size)));
    },
  };
}

export function toSource(images: tf.Tensor4D | ImageSource, option = 'images'): ImageSource {
  const source = images instanceof tf.Tensor ? tensorSource(images) : images;
  if (!(source.size > 0)) throw new UapError('BAD_ARGUMENT', 'no images', option);
  return source;
}

/** start, start+1, …, end−1 of an index order (or of 0…n−1 when `order` is omitted). */
export function range(start: number, end: number, order?: Int32Array): Int32Array {
  if (order) return order.slice(start, end);
  const out = new Int32Array(end - start);
  for (let i = 0; i < out.length; i++) out[i] = start + i;
  return out;
}
