import * as tf from '@tensorflow/tfjs';
import { heapView } from './heap-view.js';

/**
 * tf.gather(t, rows) along axis 0, by copying whole rows on the host. Why: tfjs-backend-wasm's Gather walks
 * the output element by element (~100 ns each), so picking DeepFool's unconverged rows out of a 10-class
 * Jacobian [m, 10, 224, 224, 3] took seconds per pass; reading t once and copying rows is a memcpy
 * (measured on Algorithm 1 with the ORT engine: gather was a third of the pass). The identity selection is a clone.
 * On wasm the rows are read through a view of the heap (tensor/heap-view.ts), so taking one photo out of a batch
 * of 32 copies one photo, not 32 (those whole read-backs were 4% of an Algorithm 1 pass, 2026-12-01).
 */
export function takeRows<T extends tf.Tensor>(t: T, rows: ArrayLike<number>): T {
  const n = t.shape[0]!;
  const identity = rows.length === n && Array.prototype.every.call(rows, (r: number, i: number) => r === i);
  if (identity) return t.clone();
  const size = n === 0 ? 0 : t.size / n;
  // on wasm, a view of t's values: only the rows taken are copied (dataSync would copy all of t first)
  const src = heapView(t) ?? (t.dataSync() as Float32Array | Int32Array);
  const out = src instanceof Int32Array ? new Int32Array(rows.length * size) : new Float32Array(rows.length * size);
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j]!;
    if (!(Number.isInteger(r) && r >= 0 && r < n)) throw new RangeError(`takeRows: row ${r} is outside 0..${n - 1}`);
    out.set(src.subarray(r * size, (r + 1) * size), j * size);
  }
  return tf.tensor(out, [rows.length, ...t.shape.slice(1)], t.dtype) as T;
}
