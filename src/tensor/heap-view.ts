import * as tf from '@tensorflow/tfjs';

/** The part of tfjs-backend-wasm used here: a view of a tensor's values in the wasm heap (no copy). */
interface HeapViews {
  typedArrayFromHeap(t: { shape: number[]; dtype: tf.DataType; dataId: object }): Float32Array | Int32Array;
}

/**
 * A view of a float32 or int32 tensor's values in tfjs-backend-wasm's heap, or undefined off wasm (or for a
 * tensor of another backend). Why: on wasm, dataSync copies the whole tensor into a new array, and so does
 * tfjs-wasm's Slice before it copies the slice out; reading a few rows of a large tensor through the view
 * copies only those rows.
 *
 * The view is valid until the next tfjs allocation (the heap may grow, which detaches it): copy out of it
 * before making any tensor.
 */
export function heapView(x: tf.Tensor): Float32Array | Int32Array | undefined {
  if (tf.getBackend() !== 'wasm' || (x.dtype !== 'float32' && x.dtype !== 'int32')) return undefined;
  const backend = tf.backend() as unknown as Partial<HeapViews>;
  try {
    return backend.typedArrayFromHeap?.({ shape: x.shape, dtype: x.dtype, dataId: x.dataId });
  } catch {
    return undefined; // a tensor of another backend: its values are not in this heap
  }
}
