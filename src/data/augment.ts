import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import type { Rng } from '../util/rng.js';

/**
 * Random views of training images, so that a perturbation learned on a few hundred photos does not overfit
 * them: a universal perturbation should fool *new* photos, whose objects sit elsewhere, at other sizes and
 * facing the other way. Each image gets its own draw:
 *   flip       mirrored left–right with probability ½;
 *   minScale   a random square crop of side s·H, s uniform in [minScale, 1], anywhere inside the image,
 *              resized back to H×W (bilinear) — a zoom of up to 1/minScale.
 *   jpeg       [lo, hi]: x + v re-encoded as a JPEG of a quality drawn uniformly from [lo, hi] in the forward pass
 *              (what photo sharing does to a perturbed photo; data/jpeg-roundtrip.ts), the gradient straight through.
 *              Applied by the SGD attack's local engine after the views, one more draw per image.
 * The perturbation itself is never transformed by the views: it is added to the augmented image, as it will be to a photo.
 * One `cropAndResize` call does both (a box with x1 > x2 reads the image right to left). Browser-safe.
 */
export interface AugmentOptions {
  flip?: boolean;
  /** Smallest crop side as a share of the image side, in (0, 1]; 1 (the default) means no crops. */
  minScale?: number;
  /** JPEG qualities [lo, hi], 1..100, of the re-encoding of x + v (undefined: none). */
  jpeg?: readonly [number, number];
}

export function checkAugment(a: AugmentOptions, option = 'augment'): Required<Omit<AugmentOptions, 'jpeg'>> & Pick<AugmentOptions, 'jpeg'> {
  const minScale = a.minScale ?? 1;
  if (!(minScale > 0 && minScale <= 1)) throw new UapError('BAD_ARGUMENT', `minScale must be in (0, 1], got ${minScale}`, option);
  const q = a.jpeg;
  if (q && !(q.length === 2 && q[0] >= 1 && q[1] <= 100 && q[0] <= q[1])) throw new UapError('BAD_ARGUMENT', `jpeg qualities must be 1 ≤ lo ≤ hi ≤ 100, got ${q.join('-')}`, option);
  return { flip: Boolean(a.flip), minScale, ...(q ? { jpeg: q } : {}) };
}

/** True when the views (flip, crop) change nothing (the caller can skip augmentImages; jpeg is applied apart). */
export function isIdentity(a: AugmentOptions): boolean {
  return !a.flip && (a.minScale ?? 1) === 1;
}

/** Augmented copies of `x` (pixels, NHWC); the caller disposes the result. Draws 4 numbers per image from `rng`. */
export function augmentImages(x: tf.Tensor4D, a: AugmentOptions, rng: Rng): tf.Tensor4D {
  const { flip, minScale } = checkAugment(a);
  const [n, h, w] = x.shape;
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const s = minScale + (1 - minScale) * rng();
    const y1 = (1 - s) * rng();
    const x1 = (1 - s) * rng();
    const mirrored = rng() < 0.5 && flip;
    boxes.set(mirrored ? [y1, x1 + s, y1 + s, x1] : [y1, x1, y1 + s, x1 + s], i * 4);
  }
  return tf.tidy(() =>
    tf.image.cropAndResize(x, tf.tensor2d(boxes, [n, 4]), tf.range(0, n, 1, 'int32') as tf.Tensor1D, [h, w], 'bilinear'),
  );
}
