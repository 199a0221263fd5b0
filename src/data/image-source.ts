import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';

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
}

/** A Tensor4D as an ImageSource (the tensor stays owned by the caller). */
export function tensorSource(x: tf.Tensor4D): ImageSource {
  return {
    size: x.shape[0],
    get: (indices) => tf.tidy(() => tf.gather(x, tf.tensor1d(indices, 'int32'))),
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
