import * as tf from '@tensorflow/tfjs';
import { range, toSource, type ImageSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import { hasPerturbedLogits, type Classifier } from './classifier.js';

/**
 * Top-1 predictions of a Classifier, batch by batch (the clean and perturbed predictions that fooling
 * rates, attacks and defences compare).
 */

/** Refuses a batch size that is not a positive integer (BAD_ARGUMENT naming `batchSize`). */
export function checkBatchSize(b: number): number {
  if (!Number.isInteger(b) || b < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${b}`, 'batchSize');
  return b;
}

/** Top-1 predictions for every image, batchSize images per forward pass. */
export async function predict(
  classifier: Classifier,
  images: tf.Tensor4D | ImageSource,
  batchSize = 64,
  perturbation?: { v: tf.Tensor3D; clip: boolean },
): Promise<Int32Array> {
  const source = toSource(images);
  checkBatchSize(batchSize);
  const out = new Int32Array(source.size);
  for (let start = 0; start < source.size; start += batchSize) {
    const end = Math.min(source.size, start + batchSize);
    out.set(await predictBatch(classifier, await source.get(range(start, end)), perturbation, true), start);
  }
  return out;
}

/** Top-1 of one batch (disposed when `owned`), optionally on clip(x + v). */
export async function predictBatch(
  classifier: Classifier,
  x: tf.Tensor4D,
  perturbation?: { v: tf.Tensor3D | null; clip: boolean },
  owned = false,
): Promise<Int32Array> {
  let input = x;
  if (perturbation?.v && hasPerturbedLogits(classifier)) {
    // the engine adds and clips (ORT: inside its graph)
    try {
      return await topOfLogits(classifier.perturbedLogits(x, perturbation.v.dataSync() as Float32Array, perturbation.clip));
    } finally {
      if (owned) x.dispose();
    }
  }
  if (perturbation?.v) {
    const v = perturbation.v;
    input = tf.tidy(() => {
      const s = tf.add(x, v) as tf.Tensor4D;
      return perturbation.clip ? tf.clipByValue(s, 0, 255) : s;
    });
  }
  try {
    return await topOfLogits(classifier.logits(input));
  } finally {
    if (input !== x) input.dispose();
    if (owned) x.dispose();
  }
}

/** Top-1 of each row of logits (disposed). */
async function topOfLogits(pending: Promise<tf.Tensor2D>): Promise<Int32Array> {
  const logits = await pending;
  const data = (await logits.data()) as Float32Array;
  const k = logits.shape[1];
  logits.dispose();
  return argmaxRows(data, k);
}

/** Row-wise argmax of a [N, K] logits array. */
export function argmaxRows(logits: Float32Array | Int32Array | Uint8Array, k: number): Int32Array {
  const n = logits.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = logits[i * k]!;
    for (let j = 1; j < k; j++) {
      const v = logits[i * k + j]!;
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}
