import * as tf from '@tensorflow/tfjs';
import { augmentImages, isIdentity, type AugmentOptions } from '../data/augment.js';
import type { ImageSource } from '../data/image-source.js';
import { jpegImages } from '../data/jpeg-roundtrip.js';
import { UapError } from '../errors.js';
import { hasPerturbationGradient, type Classifier } from '../models/classifier.js';
import { DEFAULT_BETA, lossGradient, lossValue, type SgdLoss } from './sgd-loss.js';

/**
 * Where the gradient attacks' (SGD's, SGA's) forward and backward passes run. Of X, an epoch only needs
 *   gradient(v, indices)   Σ_{i ∈ indices} ∂J_i/∂v and Σ J_i, with J the minibatch's loss (see lossGradient);
 * and the pass driver needs top-1 predictions of all of X (clean, and on x + v after each epoch), which an
 * engine may also answer (`predict`; without it the driver predicts with the classifier, as always).
 * The local engine is this process's classifier; the queued one (src/node/queue/sgd-engine.ts) cuts the
 * indices into shards, has workers answer for each, and adds the shard sums in shard order. A minibatch's loss
 * is a mean, so each J_i is divided by the size of the whole minibatch (`batchSize`), not by a shard's: the
 * shard gradients then add up to the minibatch gradient. Both methods resolve to null when the run was stopped.
 */

/** The loss of the gradient attacks (sgd, sga), as lossGradient takes it. */
export interface SgdLossSettings {
  loss: SgdLoss;
  /** Clamp κ of the margin loss. */
  kappa: number;
  /** Clamp β of the clamped cross-entropy (default DEFAULT_BETA; optional, so jobs of an older coordinator still parse). */
  beta?: number;
  /** Targeted: `cls` holds the target for every image. */
  targeted: boolean;
  clip: boolean;
}

/** Everything an engine needs from the attack: the loss, the evaluation batch, the augmentation and its stream, the stop signal. */
export interface SgdEngineSettings extends SgdLossSettings {
  evalBatchSize: number;
  /** Random views of each minibatch, drawn from `augmentRng` (4 numbers per image, in minibatch order; 1 more with jpeg). */
  augment?: AugmentOptions;
  /** The attack's augmentation stream (a seeded generator of numbers in [0, 1)). */
  augmentRng: () => number;
  /** The attack's stop signal: an engine that waits on others resolves to null once it fires. */
  signal?: AbortSignal;
}

/** One minibatch (or one shard of it) whose gradient the attack asks for. */
export interface GradientRequest {
  /** The current perturbation (HWC, pixels). */
  v: Float32Array;
  /** Images of X in this minibatch (or in one shard of it). */
  indices: Int32Array;
  /** Per image: its clean prediction (untargeted) or the target (targeted). */
  cls: Int32Array;
  /** Size of the whole minibatch: J is its mean. */
  batchSize: number;
}

/** What the SGD attack asks of X (see the top of this file). */
export interface SgdEngine {
  /** Σ ∂J_i/∂v (HWC) and Σ J_i over the request's images; null when the run was stopped. */
  gradient(request: GradientRequest): Promise<{ grad: Float32Array; lossSum: number } | null>;
  /** Top-1 of every image of X on clip(x + v) (v null: on x); null when stopped. Optional: the pass driver predicts locally without it. */
  predict?(v: Float32Array | null, onProgress: (done: number) => void): Promise<Int32Array | null>;
}

/** Makes the engine once the attack has resolved its settings (SgdOptions.engine). */
export type SgdEngineFactory = (settings: SgdEngineSettings) => SgdEngine | Promise<SgdEngine>;

/**
 * Σ ∂J/∂v over a batch x on this process's classifier: one vjp through clip(x + v). clip's derivative is 1
 * where x + v is inside [0, 255] and 0 where it is clipped. The closed interval lets pure black / white pixels
 * (x + v exactly 0 or 255, common at v = 0) pass their gradient: a step inward changes them, a step outward is
 * clipped away and costs nothing. A classifier with the PerturbationGradient capability (the ORT engine, and
 * ensembles of it) computes the same sum in one call, in its own graph, unless a re-encoding (the jpeg
 * augmentation) has to run between the clip and the model.
 */
export async function batchGradient(
  classifier: Classifier,
  x: tf.Tensor4D,
  request: Omit<GradientRequest, 'indices'>,
  settings: SgdLossSettings,
  reencode?: (input: tf.Tensor4D) => Promise<tf.Tensor4D>,
): Promise<{ grad: Float32Array; lossSum: number }> {
  const K = classifier.labels.ids.length;
  if (!reencode && hasPerturbationGradient(classifier)) {
    // the whole step in the engine's own graph (ORT): the same sum, J's mean scaled by the minibatch size
    const beta = settings.beta ?? DEFAULT_BETA;
    const r = await classifier.perturbationGradient(x, request.v, request.cls, { loss: settings.loss, targeted: settings.targeted, beta, kappa: settings.kappa, clip: settings.clip });
    const grad = r.grad.map((g) => g / request.batchSize);
    const lossSum = lossValue(r.logits, request.cls, K, settings.loss, settings.kappa, settings.targeted, settings.beta) * request.cls.length;
    return { grad, lossSum };
  }
  const shape = [...classifier.inputShape] as [number, number, number];
  const vt = tf.tensor3d(request.v, shape);
  const clsT = tf.tensor1d(request.cls, 'int32');
  const sum = tf.add(x, vt) as tf.Tensor4D;
  const input = settings.clip ? tf.clipByValue(sum, 0, 255) : sum;
  const mask = settings.clip ? tf.tidy(() => tf.logicalAnd(tf.greaterEqual(sum, 0), tf.lessEqual(sum, 255)).toFloat()) : null;
  // A re-encoding (the jpeg augmentation) runs in the forward pass only: its gradient is taken as the identity.
  const seen = reencode ? await reencode(input) : input;
  try {
    const out = await classifier.vjp(seen, (z) => lossGradient(z, clsT, settings.loss, settings.kappa, settings.targeted, request.batchSize, settings.beta));
    const gv = tf.tidy(() => tf.sum(mask ? tf.mul(out.grad, mask) : out.grad, 0));
    const grad = (await gv.data()) as Float32Array;
    const z = (await out.logits.data()) as Float32Array;
    const lossSum = lossValue(z, request.cls, K, settings.loss, settings.kappa, settings.targeted, settings.beta) * request.cls.length;
    tf.dispose([gv, out.logits, out.grad]);
    return { grad, lossSum };
  } finally {
    tf.dispose([vt, clsT, sum, input, seen, mask ?? []]);
  }
}

/** The engine of a single process: the images from `source`, seen through the augmentation, on `classifier`. */
export function localSgdEngine(classifier: Classifier, source: ImageSource, settings: SgdEngineSettings): SgdEngine {
  const shift = settings.augment?.shift === true;
  if (shift && !source.getWide) {
    throw new UapError('BAD_ARGUMENT', 'the shift view needs the photos around the model\'s crop: give X as a source with getWide (e.g. wideBatchSource)', 'augment');
  }
  const size = [classifier.inputShape[0], classifier.inputShape[1]] as const;
  return {
    gradient: async (request) => {
      let x = shift ? await source.getWide!(request.indices) : await source.get(request.indices);
      if (settings.augment && !isIdentity(settings.augment)) {
        const a = augmentImages(x, settings.augment, settings.augmentRng, size);
        x.dispose();
        x = a;
      }
      const jpeg = settings.augment?.jpeg;
      const reencode = jpeg ? (input: tf.Tensor4D) => jpegImages(input, jpeg, settings.augmentRng) : undefined;
      try {
        return await batchGradient(classifier, x, request, settings, reencode);
      } finally {
        x.dispose();
      }
    },
  };
}
