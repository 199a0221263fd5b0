import type * as tf from '@tensorflow/tfjs';
import { toSource, type ImageSource } from '../data/image-source.js';
import { universalPerturbation, type PassRecord, type UniversalOptions, type UniversalProgress } from '../attacks/universal.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { createRng, permutation } from '../util/rng.js';
import { predict } from '../models/predict.js';
import { evaluatePerturbation } from './fooling-rate.js';

/**
 * How the fooling rate on unseen images grows with the size of X (UAP paper, Fig. 6: GoogLeNet ≈31% with
 * |X| = 500, 78.9% with 10,000). For each size n, X is the first n images of one seeded shuffle of the training
 * images, so the sets are nested (a bigger X contains every smaller one), and Algorithm 1 runs with the same
 * options each time; the perturbation is then measured on the validation images (clean predictions computed
 * once). Browser-safe.
 */

export interface SweepOptions {
  /** |X| values, each ≥ 1 and at most the number of training images; run in increasing order. */
  sizes: readonly number[];
  /** Algorithm 1's options (the same for every size); its own progress and abort go through the fields below. */
  universal: Omit<UniversalOptions, 'onProgress' | 'signal' | 'initial' | 'onPassEnd'>;
  /** Seed of the shuffle that picks X (default: universal.seed ?? 0). */
  orderSeed?: number;
  /** Keep the training images in the given order, without shuffling (when they already come shuffled). */
  noShuffle?: boolean;
  /** Images per forward pass on the validation set (default 64). */
  evalBatchSize?: number;
  /** True labels of the training images (−1 unknown), for the error rate on each X; the attack never uses them. */
  trainLabels?: Int32Array | null;
  /** Called with Algorithm 1's progress for the current size, then with the validation progress. */
  onProgress?: (e: { size: number; index: number; sizes: number; universal?: UniversalProgress; validation?: { done: number; total: number } }) => void;
  /** Called after each size (e.g. to save its perturbation); awaited. */
  onSizeEnd?: (point: SweepPoint, index: number) => void | Promise<void>;
  signal?: AbortSignal;
}

/**
 * One size of the sweep: the perturbation computed on the first `size` training images, and how it does on X and on
 * the validation images.
 */
export interface SweepPoint {
  size: number;
  /** Fooling rate of v on its own X. */
  foolingRateX: number;
  /** Fooling rate of v on the validation images. */
  foolingRateVal: number;
  /** Error rate (1 − perturbed accuracy) of v on its own X (NaN without `trainLabels`) and on the validation images. */
  errorRateX: number;
  errorRateVal: number;
  /** Accuracy on the validation images (labelled ones), clean and perturbed. */
  accuracyCleanVal: number;
  accuracyPerturbedVal: number;
  passes: number;
  history: PassRecord[];
  seconds: number;
  v: Float32Array;
  shape: [number, number, number];
}

/** All sizes of a sweep, with the training order that defines each X. */
export interface SweepResult {
  points: SweepPoint[];
  /** The training-image order; X of size n = order[0 .. n−1]. */
  order: Int32Array;
  nVal: number;
  /** True when `signal` stopped the sweep (points then holds the sizes completed before). */
  aborted: boolean;
}

/** The images at `indices` of a source, as a source. */
export function subsetSource(source: ImageSource, indices: Int32Array): ImageSource {
  return {
    size: indices.length,
    get: (idx: Int32Array) => source.get(Int32Array.from(idx, (i) => indices[i]!)),
  };
}

export function checkSizes(sizes: readonly number[], available: number): number[] {
  if (sizes.length === 0) throw new UapError('BAD_ARGUMENT', 'no sizes', 'sizes');
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1) throw new UapError('BAD_ARGUMENT', `must be integers ≥ 1, got ${s}`, 'sizes');
    if (s > available) throw new UapError('BAD_ARGUMENT', `size ${s} exceeds the ${available} training images`, 'sizes');
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/**
 * Fooling rate on unseen images as a function of |X| (see SweepOptions): Algorithm 1 on nested subsets of `train`,
 * each perturbation measured on `val`.
 */
export async function sizeSweep(
  classifier: Classifier,
  train: tf.Tensor4D | ImageSource,
  val: tf.Tensor4D | ImageSource,
  valLabels: Int32Array | null,
  options: SweepOptions,
): Promise<SweepResult> {
  const trainSource = toSource(train, 'training images');
  const valSource = toSource(val, 'validation images');
  const sizes = checkSizes(options.sizes, trainSource.size);
  const trainLabels = options.trainLabels ?? null;
  if (trainLabels && trainLabels.length !== trainSource.size) {
    throw new UapError('BAD_ARGUMENT', `${trainLabels.length} labels for ${trainSource.size} training images`, 'trainLabels');
  }
  const evalBatch = options.evalBatchSize ?? 64;
  const order = options.noShuffle
    ? Int32Array.from({ length: trainSource.size }, (_, i) => i)
    : permutation(trainSource.size, createRng(options.orderSeed ?? options.universal.seed ?? 0));

  const valClean = await predict(classifier, valSource, evalBatch);
  const points: SweepPoint[] = [];
  for (let k = 0; k < sizes.length; k++) {
    const size = sizes[k]!;
    if (options.signal?.aborted) return { points, order, nVal: valSource.size, aborted: true };
    const t0 = performance.now();
    const X = subsetSource(trainSource, order.slice(0, size));
    const r = await universalPerturbation(classifier, X, {
      ...options.universal,
      labels: trainLabels ? Int32Array.from(order.subarray(0, size), (i) => trainLabels[i]!) : null,
      signal: options.signal,
      onProgress: (e) => options.onProgress?.({ size, index: k, sizes: sizes.length, universal: e }),
    });
    if (r.aborted) return { points, order, nVal: valSource.size, aborted: true };
    const ev = await evaluatePerturbation(classifier, valSource, valLabels, r.v, {
      clip: options.universal.clip ?? true,
      batchSize: evalBatch,
      cleanPred: valClean,
      onProgress: (e) => options.onProgress?.({ size, index: k, sizes: sizes.length, validation: e }),
    });
    const point: SweepPoint = {
      size,
      foolingRateX: r.foolingRate,
      foolingRateVal: ev.foolingRate,
      errorRateX: r.errorRate,
      errorRateVal: ev.errorRate,
      accuracyCleanVal: ev.accuracyClean,
      accuracyPerturbedVal: ev.accuracyPerturbed,
      passes: r.passes,
      history: r.history,
      seconds: (performance.now() - t0) / 1000,
      v: r.v,
      shape: r.shape,
    };
    points.push(point);
    await options.onSizeEnd?.(point, k);
  }
  return { points, order, nVal: valSource.size, aborted: false };
}

/** A sweep point without its perturbation (what sweep.json holds). */
export function sweepSummary(p: SweepPoint): Omit<SweepPoint, 'v' | 'shape'> {
  const { v: _v, shape: _s, ...rest } = p;
  return rest;
}
