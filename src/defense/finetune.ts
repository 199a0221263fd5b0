import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { createRng, permutation, randomInt, type Rng } from '../util/rng.js';
import { trainableVariables } from './layers-model.js';

/**
 * Defence by fine-tuning on perturbed images — Moosavi-Dezfooli et al., "Universal adversarial
 * perturbations", CVPR 2017, Sec. 3 ("Fine-tuning with universal perturbations"): a pool of precomputed
 * universal perturbations; each training image is replaced, with probability ½, by clip(x + v, 0, 255) with v
 * drawn uniformly from the pool; the network is then trained for a few more epochs at a small learning rate.
 * (The paper: 10 perturbations of ImageNet networks, 5 extra epochs.) Browser-safe: pixels in, a tfjs
 * LayersModel updated in place by a tfjs optimiser (Adam by default).
 */

/** Labelled training images: pixels 0..255, NHWC, row-major (a Batch fits). */
export interface TrainingSet {
  images: Float32Array;
  labels: Int32Array;
  n: number;
  shape: readonly [number, number, number];
  /**
   * Soft targets, n × classes (each row a distribution), used instead of one-hot labels when present —
   * e.g. the original model's own softmax on the clean image (self-distillation): an image then only pulls
   * the model where its prediction moves away from the original's, and classes absent from the data keep
   * their share instead of being pushed down.
   */
  targets?: Float32Array;
}

/** Progress of a defence: the minibatch just trained and its loss. */
export interface DefenseProgress {
  epoch: number;
  /** 1-based minibatch number within the epoch. */
  batch: number;
  batches: number;
  /** Loss of this minibatch. */
  loss: number;
}

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  /** Mean minibatch loss over the epoch (on the images as trained: perturbed where perturbed). */
  loss: number;
  /** Share of the epoch's images that carried a perturbation. */
  perturbedShare: number;
  seconds: number;
  /** UAT: ‖v‖∞ at the end of the epoch. */
  normInf?: number;
}

export interface TrainLoopOptions {
  /** Passes over the training set (default 1). */
  epochs?: number;
  /** Minibatch size (default 64). */
  batchSize?: number;
  /** Adam learning rate (default 1e-4: a small step, the model is already trained). Ignored with `optimizer`. */
  learningRate?: number;
  /** A tfjs optimiser to use instead of Adam(learningRate); the caller keeps ownership. */
  optimizer?: tf.Optimizer;
  /** Seed of the visiting order and of the perturbation draws (default 0). */
  seed?: number;
  /** Keep perturbed images in 0..255 (default true). */
  clip?: boolean;
  /** Called after every minibatch. */
  onBatch?: (e: DefenseProgress) => void;
  /** Stops at the next minibatch boundary (the weights keep the steps taken so far). */
  signal?: AbortSignal;
  /**
   * Run the layers in training mode (default true). false: batch norms use (and keep) their moving
   * statistics and dropout is off — what fine-tuning only the head of a frozen network needs, since tfjs
   * batch norms in training mode use batch statistics and update their moving averages even when frozen.
   */
  training?: boolean;
  /**
   * Resume after these completed epochs (the caller has restored the weights, and the optimiser if it
   * passes its own). Their random draws are replayed without training, so later epochs see the same
   * visiting orders and perturbation draws as an uninterrupted run.
   */
  resume?: { epochs: readonly EpochRecord[]; steps: number; seconds: number };
  /** Called (and awaited) after every completed epoch, e.g. to checkpoint the weights. */
  onEpochEnd?: (e: EpochEnd) => void | Promise<void>;
}

export interface EpochEnd {
  record: EpochRecord;
  /** Every completed epoch so far, resumed ones included. */
  epochs: readonly EpochRecord[];
  steps: number;
  /** UAT: the universal perturbation at the end of the epoch. */
  v?: Float32Array;
}

/**
 * Options of finetuneWithPerturbations: the training loop's, plus the pool of perturbations and how often one is
 * applied.
 */
export interface FinetuneOptions extends TrainLoopOptions {
  /** The pool of universal perturbations, each HWC in pixel units. */
  pool: readonly Float32Array[];
  /** Probability that an image is perturbed (paper: ½). */
  probability?: number;
}

/** What a defence did: one record per epoch, the optimiser steps and the time taken. */
export interface DefenseResult {
  epochs: EpochRecord[];
  /** Optimiser steps taken. */
  steps: number;
  seconds: number;
  /** True when `signal` stopped training early. */
  aborted: boolean;
}

export function checkPositiveInt(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${value}`, option);
  return value;
}

export function checkProbability(value: number, option: string): number {
  if (!(value >= 0 && value <= 1)) throw new UapError('BAD_ARGUMENT', `must be in [0, 1], got ${value}`, option);
  return value;
}

/** Number of classes of a layers model (its last output dimension). */
export function outputClasses(model: tf.LayersModel): number {
  const shape = model.outputs[0]!.shape;
  const k = shape[shape.length - 1];
  if (typeof k !== 'number' || k < 2) throw new UapError('BAD_MODEL', `cannot train a model with output shape [${shape.join(', ')}]`, model.name);
  return k;
}

/** Checks the data against the model: input shape, sizes, every label a class of the model. */
export function checkTrainingSet(model: tf.LayersModel, data: TrainingSet): number {
  const K = outputClasses(model);
  const inShape = model.inputs[0]!.shape.slice(1);
  if (inShape.length !== 3 || inShape.some((d, i) => d !== null && d !== data.shape[i])) {
    throw new UapError('BAD_INPUT', `images are ${data.shape.join('×')}, the model takes ${inShape.join('×')}`, 'training data');
  }
  const size = data.shape[0] * data.shape[1] * data.shape[2];
  if (data.n < 1 || data.images.length !== data.n * size || data.labels.length !== data.n) {
    throw new UapError('BAD_INPUT', `${data.n} images, ${data.images.length / size} pixel blocks, ${data.labels.length} labels`, 'training data');
  }
  for (let i = 0; i < data.n; i++) {
    const y = data.labels[i]!;
    if (!(y >= 0 && y < K)) throw new UapError('BAD_INPUT', `image ${i} has label ${y}: training needs a class in 0..${K - 1} for every image`, 'training data');
  }
  if (data.targets && data.targets.length !== data.n * K) {
    throw new UapError('BAD_INPUT', `${data.targets.length} soft-target values, ${data.n} images × ${K} classes needed`, 'training data');
  }
  return K;
}

/**
 * The minibatch loop shared by the defences: visits the data in a seeded order, `makeBatch` turns the chosen
 * indices into the pixels to train on, `step` takes one optimiser step and returns the minibatch loss.
 */
export async function trainLoop(
  data: TrainingSet,
  opts: TrainLoopOptions,
  rng: Rng,
  step: (x: tf.Tensor4D, y: tf.Tensor2D) => tf.Scalar,
  K: number,
  makeBatch: (idx: Int32Array, out: Float32Array) => number,
  onEpochEnd?: (record: EpochRecord) => void,
): Promise<DefenseResult> {
  const epochs = checkPositiveInt(opts.epochs ?? 1, 'epochs');
  const batchSize = checkPositiveInt(opts.batchSize ?? 64, 'batchSize');
  const size = data.shape[0] * data.shape[1] * data.shape[2];
  const batches = Math.ceil(data.n / batchSize);
  const started = Date.now();
  const records: EpochRecord[] = opts.resume ? opts.resume.epochs.slice() : [];
  let steps = opts.resume?.steps ?? 0;
  const seconds = () => (opts.resume?.seconds ?? 0) + (Date.now() - started) / 1000;
  if (records.length > epochs) throw new UapError('BAD_ARGUMENT', `${records.length} epochs done, only ${epochs} asked for`, 'resume');
  // Replay the random draws of the completed epochs (orders and perturbation choices do not depend on the weights).
  const scratch = new Float32Array(Math.min(batchSize, data.n) * size);
  for (let e = 0; e < records.length; e++) {
    const order = permutation(data.n, rng);
    for (let b = 0; b < batches; b++) makeBatch(order.subarray(b * batchSize, Math.min(data.n, (b + 1) * batchSize)), scratch);
  }
  for (let epoch = records.length + 1; epoch <= epochs; epoch++) {
    const t0 = Date.now();
    const order = permutation(data.n, rng);
    let lossSum = 0;
    let perturbed = 0;
    for (let b = 0; b < batches; b++) {
      if (opts.signal?.aborted) return { epochs: records, steps, seconds: seconds(), aborted: true };
      const idx = order.subarray(b * batchSize, Math.min(data.n, (b + 1) * batchSize));
      const pixels = new Float32Array(idx.length * size);
      perturbed += makeBatch(idx, pixels);
      const labels = new Int32Array(idx.length);
      idx.forEach((i, j) => (labels[j] = data.labels[i]!));
      const soft = data.targets ? new Float32Array(idx.length * K) : undefined;
      if (soft) idx.forEach((i, j) => soft.set(data.targets!.subarray(i * K, (i + 1) * K), j * K));
      const cost = tf.tidy(() => {
        const x = tf.tensor4d(pixels, [idx.length, ...data.shape]);
        const y = soft ? tf.tensor2d(soft, [idx.length, K]) : (tf.oneHot(tf.tensor1d(labels, 'int32'), K).toFloat() as tf.Tensor2D);
        return step(x, y);
      });
      const loss = (await cost.data())[0]!;
      cost.dispose();
      steps++;
      lossSum += loss;
      opts.onBatch?.({ epoch, batch: b + 1, batches, loss });
    }
    const record: EpochRecord = { epoch, loss: lossSum / batches, perturbedShare: perturbed / data.n, seconds: (Date.now() - t0) / 1000 };
    onEpochEnd?.(record);
    records.push(record);
    await opts.onEpochEnd?.({ record, epochs: records.slice(), steps });
  }
  return { epochs: records, steps, seconds: seconds(), aborted: false };
}

/** Softmax cross-entropy of a layers model's logits. */
export function crossEntropy(model: tf.LayersModel, x: tf.Tensor4D, y: tf.Tensor2D, training = true): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(y, model.apply(x, { training }) as tf.Tensor2D) as tf.Scalar;
}

/** Fine-tunes `model` in place on images perturbed with probability `probability` by a perturbation of the pool. */
export async function finetuneWithPerturbations(model: tf.LayersModel, data: TrainingSet, opts: FinetuneOptions): Promise<DefenseResult> {
  const K = checkTrainingSet(model, data);
  const size = data.shape[0] * data.shape[1] * data.shape[2];
  if (opts.pool.length === 0) throw new UapError('BAD_ARGUMENT', 'the pool of perturbations is empty', 'pool');
  opts.pool.forEach((v, i) => {
    if (v.length !== size) throw new UapError('BAD_ARGUMENT', `perturbation ${i} has ${v.length} values, the images ${data.shape.join('×')}`, 'pool');
  });
  const probability = checkProbability(opts.probability ?? 0.5, 'probability');
  const lr = opts.learningRate ?? 1e-4;
  if (!opts.optimizer && !(lr > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${lr}`, 'learningRate');
  const clip = opts.clip ?? true;
  const rng = createRng(opts.seed ?? 0);
  const optimizer = opts.optimizer ?? tf.train.adam(lr);
  const vars = trainableVariables(model);
  try {
    return await trainLoop(
      data,
      opts,
      rng,
      (x, y) => optimizer.minimize(() => crossEntropy(model, x, y, opts.training ?? true), true, vars)!,
      K,
      (idx, out) => {
        let perturbed = 0;
        idx.forEach((i, j) => {
          const img = data.images.subarray(i * size, (i + 1) * size);
          const o = j * size;
          if (rng() < probability) {
            perturbed++;
            const v = opts.pool[randomInt(rng, opts.pool.length)]!;
            for (let p = 0; p < size; p++) {
              const s = img[p]! + v[p]!;
              out[o + p] = clip ? (s < 0 ? 0 : s > 255 ? 255 : s) : s;
            }
          } else {
            out.set(img, o);
          }
        });
        return perturbed;
      },
    );
  } finally {
    if (!opts.optimizer) optimizer.dispose();
  }
}
