import * as tf from '@tensorflow/tfjs';
import type { ImageSource } from './image-source.js';
import { UapError } from '../errors.js';
import { imageAt, imageSize, type Batch } from './batch.js';
import { scratchTensors } from './scratch-tensor.js';

/**
 * A Batch as an ImageSource: attacks ask for images by index, and only the requested ones become a
 * tensor, so a 500-photo X of 224×224×3 (300 MB as one tensor) never has to live on the backend at once.
 */
export function batchSource(batch: Batch): ImageSource {
  const size = imageSize(batch.shape);
  const make = scratchTensors();
  return {
    size: batch.n,
    get(indices: Int32Array): tf.Tensor4D {
      return make([indices.length, ...batch.shape], (out) => indices.forEach((idx, j) => out.set(batch.images.subarray(idx * size, (idx + 1) * size), j * size)));
    },
  };
}

/**
 * A Batch of photos decoded wider than the model's input (e.g. shorter side 256 for a 224 model: the model's own
 * resize, without its centre crop) as an ImageSource of the model's [h, w] view: `get` gives the centre h×w of
 * each (what the model would see), `getWide` the whole photo (for the `shift` augmentation). The centre is cut with
 * row copies in JS: tfjs-backend-wasm's slice runs element by element (see tensorSource).
 */
export function wideBatchSource(batch: Batch, size: readonly [number, number]): ImageSource {
  const [H, W, C] = batch.shape;
  const [h, w] = size;
  if (h > H || w > W) throw new UapError('BAD_ARGUMENT', `the photos (${H}×${W}) are smaller than the view ${h}×${w}`, 'size');
  const top = Math.floor((H - h) / 2);
  const left = Math.floor((W - w) / 2);
  const wide = batchSource(batch);
  const make = scratchTensors();
  return {
    size: batch.n,
    get(indices: Int32Array): tf.Tensor4D {
      return make([indices.length, h, w, C], (out) =>
        indices.forEach((idx, j) => {
          const photo = imageAt(batch, idx);
          for (let y = 0; y < h; y++) {
            const from = ((top + y) * W + left) * C;
            out.set(photo.subarray(from, from + w * C), (j * h + y) * w * C);
          }
        }),
      );
    },
    getWide: (indices) => wide.get(indices),
  };
}
