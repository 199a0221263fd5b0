import * as tf from '@tensorflow/tfjs';
import type { ImageSource } from './image-source.js';
import { imageSize, type Batch } from './batch.js';

/**
 * A Batch as an ImageSource: attacks ask for images by index, and only the requested ones become a
 * tensor, so a 500-photo X of 224×224×3 (300 MB as one tensor) never has to live on the backend at once.
 */
export function batchSource(batch: Batch): ImageSource {
  const size = imageSize(batch.shape);
  return {
    size: batch.n,
    get(indices: Int32Array): tf.Tensor4D {
      const out = new Float32Array(indices.length * size);
      indices.forEach((idx, j) => out.set(batch.images.subarray(idx * size, (idx + 1) * size), j * size));
      return tf.tensor4d(out, [indices.length, ...batch.shape]);
    },
  };
}
