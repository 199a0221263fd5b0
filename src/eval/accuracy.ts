import * as tf from '@tensorflow/tfjs';
import { range, toSource, type ImageSource } from '../data/image-source.js';
import type { Classifier } from '../models/classifier.js';

/** Top-1 and top-5 accuracy over the `labelled` of `n` images that have a known label. */
export interface Accuracy {
  top1: number;
  top5: number;
  /** Images with a known label (those the accuracy is over). */
  labelled: number;
  n: number;
}

/** Top-1 / top-5 accuracy on true labels (−1 = unknown, skipped), batched. */
export async function accuracy(
  classifier: Classifier,
  images: tf.Tensor4D | ImageSource,
  labels: Int32Array,
  batchSize = 64,
  onProgress?: (e: { done: number; total: number }) => void,
): Promise<Accuracy> {
  const source = toSource(images);
  let top1 = 0;
  let top5 = 0;
  let labelled = 0;
  for (let start = 0; start < source.size; start += batchSize) {
    const end = Math.min(source.size, start + batchSize);
    const x = await source.get(range(start, end));
    const logits = await classifier.logits(x);
    x.dispose();
    const k = Math.min(5, logits.shape[1]);
    const { indices } = tf.topk(logits, k);
    const top = (await indices.data()) as Int32Array;
    indices.dispose();
    logits.dispose();
    for (let i = start; i < end; i++) {
      const label = labels[i]!;
      if (label < 0) continue;
      labelled++;
      const row = top.subarray((i - start) * k, (i - start + 1) * k);
      if (row[0] === label) top1++;
      if (row.includes(label)) top5++;
    }
    onProgress?.({ done: end, total: source.size });
  }
  return { top1: top1 / labelled, top5: top5 / labelled, labelled, n: source.size };
}
