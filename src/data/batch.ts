import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';

/**
 * A set of images in memory, ready for a classifier. Browser-safe.
 * Pixels are float32 NHWC in 0..255 (the Classifier contract); labels are class indices in the
 * classifier's label space, −1 where unknown.
 */
export interface Batch {
  /** n × H × W × C pixels, 0..255, row-major NHWC. */
  images: Float32Array;
  /** n class indices; −1 when unknown. */
  labels: Int32Array;
  n: number;
  shape: [number, number, number];
  /** One per image: the file it came from, or e.g. 'mnist:test#123'. */
  names: string[];
}

/** Values in one image of shape [H, W, C]: H · W · C. */
export function imageSize(shape: readonly [number, number, number]): number {
  return shape[0] * shape[1] * shape[2];
}

/** Checks that the arrays agree with n and shape; throws BAD_INPUT naming `name`. */
export function checkBatch(b: Batch, name = 'batch'): Batch {
  const size = imageSize(b.shape);
  if (!b.shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UapError('BAD_INPUT', `bad image shape [${b.shape.join(', ')}]`, name);
  }
  if (b.images.length !== b.n * size) {
    throw new UapError('BAD_INPUT', `${b.images.length} pixel values for ${b.n} images of ${b.shape.join('×')}`, name);
  }
  if (b.labels.length !== b.n || b.names.length !== b.n) {
    throw new UapError('BAD_INPUT', `${b.labels.length} labels and ${b.names.length} names for ${b.n} images`, name);
  }
  return b;
}

function checkRange(b: Batch, start: number, end: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > b.n || start > end) {
    throw new RangeError(`range [${start}, ${end}) is outside a batch of ${b.n}`);
  }
}

/** Images [start, end) as a new Batch (the arrays are copies). */
export function sliceBatch(b: Batch, start: number, end = b.n): Batch {
  end = Math.min(end, b.n);
  checkRange(b, start, end);
  const size = imageSize(b.shape);
  return {
    images: b.images.slice(start * size, end * size),
    labels: b.labels.slice(start, end),
    n: end - start,
    shape: [...b.shape],
    names: b.names.slice(start, end),
  };
}

/** The images at `indices`, in that order, as a new Batch. */
export function selectBatch(b: Batch, indices: ArrayLike<number>): Batch {
  const size = imageSize(b.shape);
  const n = indices.length;
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  const names: string[] = [];
  for (let k = 0; k < n; k++) {
    const i = indices[k]!;
    if (!Number.isInteger(i) || i < 0 || i >= b.n) throw new RangeError(`index ${i} is outside a batch of ${b.n}`);
    images.set(b.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = b.labels[i]!;
    names.push(b.names[i]!);
  }
  return { images, labels, n, shape: [...b.shape], names };
}

/** Batches of the same shape, one after the other. */
export function concatBatches(batches: readonly Batch[]): Batch {
  if (batches.length === 0) throw new RangeError('concatBatches needs at least one batch');
  const shape = batches[0]!.shape;
  for (const b of batches) {
    if (b.shape.some((d, i) => d !== shape[i])) {
      throw new UapError('BAD_INPUT', `cannot join images of ${b.shape.join('×')} and ${shape.join('×')}`);
    }
  }
  const n = batches.reduce((s, b) => s + b.n, 0);
  const size = imageSize(shape);
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  const names: string[] = [];
  let k = 0;
  for (const b of batches) {
    images.set(b.images.subarray(0, b.n * size), k * size);
    labels.set(b.labels, k);
    names.push(...b.names);
    k += b.n;
  }
  return { images, labels, n, shape: [...shape], names };
}

/** Pixels of image i, HWC (a view into the batch: do not modify). */
export function imageAt(b: Batch, i: number): Float32Array {
  checkRange(b, i, i + 1);
  const size = imageSize(b.shape);
  return b.images.subarray(i * size, (i + 1) * size);
}

/**
 * Images [start, end) as a tensor [end − start, H, W, C]. The data are copied, so the tensor does not
 * change if the batch does (the cpu backend would otherwise keep a reference to the array).
 * The caller owns the tensor.
 */
export function batchTensor(b: Batch, start = 0, end = b.n): tf.Tensor4D {
  end = Math.min(end, b.n);
  checkRange(b, start, end);
  const size = imageSize(b.shape);
  const [h, w, c] = b.shape;
  return tf.tensor4d(b.images.slice(start * size, end * size), [end - start, h, w, c], 'float32');
}

/** Start/end pairs covering 0..n in chunks of at most `size`. */
export function* chunks(n: number, size: number): Generator<[number, number]> {
  if (!(size >= 1)) throw new RangeError(`chunk size must be ≥ 1, got ${size}`);
  for (let s = 0; s < n; s += size) yield [s, Math.min(n, s + size)];
}
