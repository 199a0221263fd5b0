import * as tf from '@tensorflow/tfjs';

/**
 * Makes float32 tensors on a scratch array that is reused from call to call when the backend copies the values as
 * the tensor is made (tfjs-backend-wasm copies them into its heap at once; the cpu backend keeps the array and
 * webgl uploads it later, so they get a fresh one each time). `fill` writes the `shape`'s values into the array it
 * is given.
 *
 * Why: the first write to fresh memory faults in every page. A batch of 32 photos of 224×224×3 is 19 MB, and copying
 * 9.6 MB into a fresh array took 6 ms on this 2-core VM against 0.4–0.8 ms into one written before (measured,
 * session 6); the image sources make such a batch at every step of an attack.
 */
export function scratchTensors(): (shape: [number, number, number, number], fill: (out: Float32Array) => void) => tf.Tensor4D {
  let scratch = new Float32Array(0);
  return (shape, fill) => {
    const count = shape[0] * shape[1] * shape[2] * shape[3];
    if (tf.getBackend() !== 'wasm') {
      const out = new Float32Array(count);
      fill(out);
      return tf.tensor4d(out, shape);
    }
    if (scratch.length < count) scratch = new Float32Array(count);
    const out = scratch.subarray(0, count);
    fill(out);
    return tf.tensor4d(out, shape);
  };
}
