import * as tf from '@tensorflow/tfjs';
import { checkBatch, imageAt, imageSize, type Batch } from '../data/batch.js';
import { UapError } from '../errors.js';
import { addPerturbation, pixelsToImage } from '../io/perturbation-image.js';
import type { Classifier } from '../models/classifier.js';
import { pngDataUri } from './png.js';
import type { Sample, SampleSet } from './schemas.js';

/**
 * Clean vs perturbed photos with their top-1 labels (the paper's Fig. 1 and 3), ready for the report
 * (write the result as samples.json beside perturbation.json). Browser-safe.
 */
export interface SampleOptions {
  /** Classify clip(x + v, 0, 255) (default) or x + v. The pictures always show the clipped image. */
  clip?: boolean;
  /** Recorded in the result (e.g. the model id and the perturbation's folder). */
  model?: string;
  perturbation?: string;
}

/** Classifies each image clean and perturbed by v and returns both pictures (PNG data URIs) with their top-1 labels, as samples.json holds them. */
export async function makeSamples(classifier: Classifier, images: Batch, v: Float32Array, opts: SampleOptions = {}): Promise<SampleSet> {
  checkBatch(images, 'samples');
  const [h, w, c] = classifier.inputShape;
  if (images.shape.some((d, i) => d !== classifier.inputShape[i])) {
    throw new UapError('BAD_INPUT', `images are ${images.shape.join('×')}, the model takes ${h}×${w}×${c}`, 'samples');
  }
  if (v.length !== imageSize(images.shape)) {
    throw new UapError('BAD_INPUT', `perturbation has ${v.length} values, the images ${imageSize(images.shape)}`, 'perturbation');
  }
  if (images.n === 0) throw new UapError('BAD_ARGUMENT', 'no images', 'samples');
  const clip = opts.clip ?? true;
  const perturbedPixels = addPerturbation(images.images, v, clip);
  const top1 = async (pixels: Float32Array): Promise<{ index: Int32Array; prob: Float32Array }> => {
    const x = tf.tensor4d(pixels, [images.n, h, w, c]);
    const logits = await classifier.logits(x);
    x.dispose();
    const probs = tf.softmax(logits);
    logits.dispose();
    const { values, indices } = tf.topk(probs, 1);
    probs.dispose();
    const out = { index: (await indices.data()) as Int32Array, prob: (await values.data()) as Float32Array };
    tf.dispose([values, indices]);
    return out;
  };
  const clean = await top1(images.images);
  const pert = await top1(perturbedPixels);
  const names = classifier.labels.names;
  const labelOf = (i: number) => names[i] ?? String(i);
  const shown = clip ? perturbedPixels : addPerturbation(images.images, v, true);
  const samples: Sample[] = [];
  const size = imageSize(images.shape);
  for (let i = 0; i < images.n; i++) {
    const s: Sample = {
      name: images.names[i] ?? `#${i + 1}`,
      clean: {
        src: await pngDataUri(pixelsToImage(imageAt(images, i), images.shape, 3)),
        label: labelOf(clean.index[i]!),
        index: clean.index[i]!,
        prob: clean.prob[i]!,
      },
      perturbed: {
        src: await pngDataUri(pixelsToImage(shown.subarray(i * size, (i + 1) * size), images.shape, 3)),
        label: labelOf(pert.index[i]!),
        index: pert.index[i]!,
        prob: pert.prob[i]!,
      },
    };
    const y = images.labels[i]!;
    if (y >= 0) s.trueLabel = labelOf(y);
    samples.push(s);
  }
  const out: SampleSet = { clip, shape: [h, w, c], samples };
  if (opts.model !== undefined) out.model = opts.model;
  if (opts.perturbation !== undefined) out.perturbation = opts.perturbation;
  return out;
}
