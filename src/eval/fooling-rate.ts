import * as tf from '@tensorflow/tfjs';
import { range, toSource, type ImageSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { checkBatchSize, predictBatch } from '../models/predict.js';

/** Options of evaluatePerturbation. */
export interface EvaluateOptions {
  /** Evaluate on clip(x + v, 0, 255) (default true: perturbed images are valid images). */
  clip?: boolean;
  /** Images per forward pass (default 64). */
  batchSize?: number;
  /** Targeted perturbations: the class (or one class per image) counted by `targetSuccess`. */
  target?: number | Int32Array;
  /** Clean predictions when already known (they do not depend on v): skips the clean forward passes. */
  cleanPred?: Int32Array;
  /** Called after every batch with the images done so far. */
  onProgress?: (e: { done: number; total: number }) => void;
  /** Checked between batches; an abort throws UapError INTERRUPTED. */
  signal?: AbortSignal;
}

/**
 * What evaluatePerturbation measured: both measures (attacks/criteria.ts), clean and perturbed accuracy, and
 * every prediction.
 */
export interface Evaluation {
  /** Share of images whose top-1 on clip(x + v) differs from their top-1 on x (the paper's definition). */
  foolingRate: number;
  /**
   * Share of the labelled images whose top-1 on clip(x + v) is not their true label: 1 − accuracyPerturbed (what
   * SGA and ART call the fooling rate). NaN when no label is known.
   */
  errorRate: number;
  /** Top-1 accuracy on the clean images, over images with a known label (NaN when none is known). */
  accuracyClean: number;
  /** Top-1 accuracy on the perturbed images, over the same images (NaN when no label is known). */
  accuracyPerturbed: number;
  /** With `target`: share of images predicted as the target on clip(x + v). */
  targetSuccess?: number;
  n: number;
  /** Number of images with a known label (label ≥ 0). */
  labelled: number;
  cleanPred: Int32Array;
  pertPred: Int32Array;
}

/**
 * Fooling rate and error rate of a perturbation v (pixels, [H, W, C]) on a set of images, with clean and
 * perturbed accuracy beside them. `labels` holds the true class per image, −1 where unknown (or null when none is known).
 */
export async function evaluatePerturbation(
  classifier: Classifier,
  images: tf.Tensor4D | ImageSource,
  labels: Int32Array | null,
  v: Float32Array | tf.Tensor3D,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const source = toSource(images);
  const n = source.size;
  const clip = options.clip ?? true;
  const batchSize = checkBatchSize(options.batchSize ?? 64);
  const [h, w, c] = classifier.inputShape;
  const vSize = v instanceof Float32Array ? v.length : v.size;
  if (vSize !== h * w * c) {
    throw new UapError('BAD_ARGUMENT', `perturbation has ${vSize} values, the model expects ${h}×${w}×${c}`, 'perturbation');
  }
  if (labels && labels.length !== n) throw new UapError('BAD_ARGUMENT', `${labels.length} labels for ${n} images`, 'labels');
  if (options.cleanPred && options.cleanPred.length !== n) {
    throw new UapError('BAD_ARGUMENT', `${options.cleanPred.length} predictions for ${n} images`, 'cleanPred');
  }
  const target = options.target;
  if (target instanceof Int32Array && target.length !== n) {
    throw new UapError('BAD_ARGUMENT', `${target.length} target classes for ${n} images`, 'target');
  }

  const vt = v instanceof Float32Array ? tf.tensor3d(v, [h, w, c]) : v;
  const cleanPred = options.cleanPred ? options.cleanPred.slice() : new Int32Array(n);
  const pertPred = new Int32Array(n);
  try {
    for (let start = 0; start < n; start += batchSize) {
      if (options.signal?.aborted) throw new UapError('INTERRUPTED', 'evaluation stopped');
      const end = Math.min(n, start + batchSize);
      const x = await source.get(range(start, end));
      try {
        if (!options.cleanPred) cleanPred.set(await predictBatch(classifier, x), start);
        pertPred.set(await predictBatch(classifier, x, { v: vt, clip }), start);
      } finally {
        x.dispose();
      }
      options.onProgress?.({ done: end, total: n });
    }
  } finally {
    if (vt !== v) vt.dispose();
  }

  let fooled = 0;
  let labelled = 0;
  let correctClean = 0;
  let correctPert = 0;
  let hit = 0;
  for (let i = 0; i < n; i++) {
    if (cleanPred[i] !== pertPred[i]) fooled++;
    const y = labels ? labels[i]! : -1;
    if (y >= 0) {
      labelled++;
      if (cleanPred[i] === y) correctClean++;
      if (pertPred[i] === y) correctPert++;
    }
    if (target !== undefined && pertPred[i] === (typeof target === 'number' ? target : target[i])) hit++;
  }
  const result: Evaluation = {
    foolingRate: fooled / n,
    accuracyClean: labelled > 0 ? correctClean / labelled : Number.NaN,
    accuracyPerturbed: labelled > 0 ? correctPert / labelled : Number.NaN,
    errorRate: labelled > 0 ? (labelled - correctPert) / labelled : Number.NaN,
    n,
    labelled,
    cleanPred,
    pertPred,
  };
  if (target !== undefined) result.targetSuccess = hit / n;
  return result;
}
