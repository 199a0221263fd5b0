import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { createRng, gaussianArray, type Rng } from '../util/rng.js';
import { rescaleAndBack } from './linear-resize.js';

/**
 * Random views of training images, so that a perturbation learned on a few hundred photos does not overfit
 * them: a universal perturbation should fool *new* photos, whose objects sit elsewhere, at other sizes and
 * facing the other way, and photos as sharing leaves them. Each image gets its own draw:
 *   flip       mirrored left–right with probability ½;
 *   minScale   a random square crop of side s·H, s uniform in [minScale, 1], anywhere inside the image,
 *              resized back to H×W (bilinear) — a zoom of up to 1/minScale;
 *   resize     [lo, hi]: the photo at another resolution: resized to round(s·H) × round(s·W), s uniform in
 *              [lo, hi], and back to H×W with the library's photo resize (data/linear-resize.ts) — s < 1 is a photo
 *              smaller than the model's input (or downscaled by a sharing site) that the classifier's own resize
 *              blows up: its fine detail is gone, and v must fool on the blurred photo;
 *   noise      σ: Gaussian pixel noise of standard deviation σ (pixels) added to each pixel, then clipped to 0..255
 *              (sensor noise, re-compression): v must not rely on the photo's exact values;
 *   shift      the crop (or, without `crop`, the whole view) placed anywhere in the photo as the model resizes it
 *              (shorter side H/0.875 before its centre crop), not only inside that centre crop: new content at the
 *              model's own scale, where a crop can only zoom in. It needs the photos with their margins
 *              (ImageSource.getWide, e.g. wideBatchSource), and snaps the window to whole pixels, so that an
 *              unzoomed window is the photo's own pixels, not a resampling of them;
 *   rotate     θ_max (degrees): a rotation by θ uniform in [−θ_max, θ_max] about the centre, zoomed in by
 *              cos|θ| + sin|θ| (for a square view) so that the rotated view lies inside the photo (no fill, no corners);
 *   color      s: brightness, contrast and saturation, each scaled by a factor uniform in [1 − s, 1 + s] (contrast
 *              about the image's mean, saturation about its grey), clipped: another exposure or white balance;
 *   jpeg       [lo, hi]: x + v re-encoded as a JPEG of a quality drawn uniformly from [lo, hi] in the forward pass
 *              (what photo sharing does to a perturbed photo; data/jpeg-roundtrip.ts), the gradient straight through.
 *              Applied by the SGD attack's local engine after the views, one more draw per image.
 * The views (flip, crop, resize, noise) act on the photo x, in that order; the attack adds v after them, as it
 * will be added to a photo. So `resize` trains v on blurred photos, not v's own resampling: that one is what
 * `uap apply --fit photo` inverts (data/apply-perturbation.ts), and what a mixed-size ensemble trains against
 * (models/ensemble.ts: each member sees x + v resized to its own input). One `cropAndResize` call does flip and
 * crop (a box with x1 > x2 reads the image right to left). Browser-safe.
 */
export interface AugmentOptions {
  flip?: boolean;
  /** Smallest crop side as a share of the image side, in (0, 1]; 1 (the default) means no crops. */
  minScale?: number;
  /** Resolution scales [lo, hi], 0 < lo ≤ hi ≤ 4, of the rescale-and-back (undefined: none). */
  resize?: readonly [number, number];
  /** Standard deviation of the pixel noise, in pixels (0..255 scale), > 0 (undefined: none). */
  noise?: number;
  /** JPEG qualities [lo, hi], 1..100, of the re-encoding of x + v (undefined: none). */
  jpeg?: readonly [number, number];
  /** Windows anywhere in the wider photo (ImageSource.getWide), not only in the model's centre crop. */
  shift?: boolean;
  /** Largest rotation, in degrees, in (0, 45] (undefined: none). */
  rotate?: number;
  /** Colour jitter strength s in (0, 1) (undefined: none). */
  color?: number;
}

/** AugmentOptions after checkAugment: flip and minScale filled in, the others present only when on. */
export type CheckedAugment = { flip: boolean; minScale: number } & Pick<AugmentOptions, 'resize' | 'noise' | 'jpeg' | 'shift' | 'rotate' | 'color'>;

/** The defaults of the parameterised views, as `--augment resize` / `noise` / `jpeg` alone give them. */
export const AUGMENT_DEFAULTS = { crop: 0.8, resize: [0.5, 1.5], noise: 4, jpeg: [50, 95], rotate: 10, color: 0.2 } as const;

export function checkAugment(a: AugmentOptions, option = 'augment'): CheckedAugment {
  const minScale = a.minScale ?? 1;
  if (!(minScale > 0 && minScale <= 1)) throw new UapError('BAD_ARGUMENT', `minScale must be in (0, 1], got ${minScale}`, option);
  const q = a.jpeg;
  if (q && !(q.length === 2 && q[0] >= 1 && q[1] <= 100 && q[0] <= q[1])) throw new UapError('BAD_ARGUMENT', `jpeg qualities must be 1 ≤ lo ≤ hi ≤ 100, got ${q.join('-')}`, option);
  const r = a.resize;
  if (r && !(r.length === 2 && r[0] > 0 && r[0] <= r[1] && r[1] <= 4)) throw new UapError('BAD_ARGUMENT', `resize scales must be 0 < lo ≤ hi ≤ 4, got ${r.join('-')}`, option);
  const s = a.noise;
  if (s !== undefined && !(s > 0 && Number.isFinite(s))) throw new UapError('BAD_ARGUMENT', `the noise σ must be a finite number > 0 (pixels), got ${s}`, option);
  const t = a.rotate;
  if (t !== undefined && !(t > 0 && t <= 45)) throw new UapError('BAD_ARGUMENT', `the largest rotation must be in (0, 45] degrees, got ${t}`, option);
  const j = a.color;
  if (j !== undefined && !(j > 0 && j < 1)) throw new UapError('BAD_ARGUMENT', `the colour jitter must be in (0, 1), got ${j}`, option);
  return {
    flip: Boolean(a.flip),
    minScale,
    ...(r ? { resize: r } : {}),
    ...(s !== undefined ? { noise: s } : {}),
    ...(q ? { jpeg: q } : {}),
    ...(a.shift ? { shift: true } : {}),
    ...(t !== undefined ? { rotate: t } : {}),
    ...(j !== undefined ? { color: j } : {}),
  };
}

/** True when the views (flip, crop, shift, rotate, color, resize, noise) change nothing (the caller can skip augmentImages; jpeg is applied apart). */
export function isIdentity(a: AugmentOptions): boolean {
  return !a.flip && (a.minScale ?? 1) === 1 && !a.shift && a.rotate === undefined && a.color === undefined && a.resize === undefined && a.noise === undefined;
}

/**
 * How many numbers the augmentation draws from its stream per image and step: augmentImages' 4 (crop box and
 * mirror) + 1 for rotate + 3 for color + 1 for resize + 1 for noise when the views are on, + 1 for jpeg. A resumed run skips the passes done
 * by drawing this many per image and pass, so it sees the views an uninterrupted run would.
 */
export function drawsPerImage(a: AugmentOptions | undefined): number {
  if (!a) return 0;
  const views = isIdentity(a) ? 0 : 4 + (a.rotate !== undefined ? 1 : 0) + (a.color !== undefined ? 3 : 0) + (a.resize ? 1 : 0) + (a.noise !== undefined ? 1 : 0);
  return views + (a.jpeg ? 1 : 0);
}

/**
 * Augmented copies of `x` (pixels, NHWC); the caller disposes the result. Draws drawsPerImage(a) − jpeg numbers
 * per image from `rng`, in image order: the crop box and mirror (4), then the angle, the 3 colour factors, the
 * resize scale, the noise seed. The views act in the order of the list at the top.
 * With `shift`, `x` holds the wider photos (ImageSource.getWide) and `size` the model's [H, W] (the output size);
 * otherwise the output has x's size.
 */
export function augmentImages(x: tf.Tensor4D, a: AugmentOptions, rng: Rng, size?: readonly [number, number]): tf.Tensor4D {
  const { flip, minScale, resize, noise, shift, rotate, color } = checkAugment(a);
  const [n, H, W, c] = x.shape;
  const [h, w] = shift ? (size ?? [H, W]) : [H, W];
  if (h > H || w > W) throw new UapError('BAD_ARGUMENT', `the shift view needs photos at least ${h}×${w}, got ${H}×${W}`, 'augment');
  const boxes = new Float32Array(n * 4);
  const scales = new Float64Array(n);
  const seeds = new Float64Array(n);
  const turns = new Float32Array(n * 8);
  const jitter = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const s = minScale + (1 - minScale) * rng();
    // Box sides in cropAndResize's coordinates (0..1 ↦ pixel 0..H−1). Without shift: a share s of the image. With it:
    // s·(h−1) pixels of the wider photo (spacing 1 pixel when s = 1), at an offset snapped down to whole pixels (never past the edge).
    const sy = shift ? (s * (h - 1)) / Math.max(1, H - 1) : s;
    const sx = shift ? (s * (w - 1)) / Math.max(1, W - 1) : s;
    const snap = (t: number, side: number) => (shift ? Math.floor(t * (side - 1)) / Math.max(1, side - 1) : t);
    const y1 = snap((1 - sy) * rng(), H);
    const x1 = snap((1 - sx) * rng(), W);
    const mirrored = rng() < 0.5 && flip;
    boxes.set(mirrored ? [y1, x1 + sx, y1 + sy, x1] : [y1, x1, y1 + sy, x1 + sx], i * 4);
    if (rotate !== undefined) turns.set(rotation(((2 * rng() - 1) * rotate * Math.PI) / 180, h, w), i * 8);
    if (color !== undefined) for (let k = 0; k < 3; k++) jitter[i * 3 + k] = 1 + color * (2 * rng() - 1);
    if (resize) scales[i] = resize[0] + (resize[1] - resize[0]) * rng();
    if (noise !== undefined) seeds[i] = Math.floor(rng() * 4294967296);
  }
  return tf.tidy(() => {
    let y: tf.Tensor4D = x;
    if (flip || minScale < 1 || shift) y = tf.image.cropAndResize(x, tf.tensor2d(boxes, [n, 4]), tf.range(0, n, 1, 'int32') as tf.Tensor1D, [h, w], 'bilinear');
    if (rotate !== undefined) y = tf.image.transform(y, tf.tensor2d(turns, [n, 8]), 'bilinear', 'nearest');
    if (color !== undefined) y = colorJitter(y, tf.tensor2d(jitter, [n, 3]));
    if (resize) y = rescaleAndBack(y, scales);
    if (noise !== undefined) {
      const e = new Float32Array(n * h * w * c);
      for (let i = 0; i < n; i++) e.set(gaussianArray(h * w * c, createRng(seeds[i]!), 0, noise), i * h * w * c);
      y = tf.clipByValue(tf.add(y, tf.tensor4d(e, [n, h, w, c])), 0, 255) as tf.Tensor4D;
    }
    return y === x ? tf.clone(x) : y;
  });
}

/**
 * tf.image.transform's map for a rotation by θ about the centre of an h×w image, zoomed by z (cos|θ| + sin|θ| for a square):
 * output pixel (x, y) reads input (cx + (cos θ·(x − cx) − sin θ·(y − cy))/z, cy + (sin θ·(x − cx) + cos θ·(y − cy))/z).
 * z makes the rotated square fit inside the image, so no output pixel reads outside it (the fill is never seen).
 */
function rotation(theta: number, h: number, w: number): number[] {
  // the corners (±w/2, ±h/2) map inside the image when z ≥ |cos θ| + |sin θ|·max(h/w, w/h) (= cos + sin for a square)
  const z = Math.abs(Math.cos(theta)) + Math.abs(Math.sin(theta)) * Math.max(h / w, w / h);
  const [c, s] = [Math.cos(theta) / z, Math.sin(theta) / z];
  const [cx, cy] = [(w - 1) / 2, (h - 1) / 2];
  return [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0, 0];
}

/** Brightness, contrast and saturation factors [n, 3] per image (1 = unchanged), in that order; clipped to 0..255. */
function colorJitter(x: tf.Tensor4D, f: tf.Tensor2D): tf.Tensor4D {
  const [n, , , c] = x.shape;
  const factor = (k: number) => tf.reshape(tf.slice(f, [0, k], [n, 1]), [n, 1, 1, 1]);
  let y: tf.Tensor4D = tf.mul(x, factor(0));
  const mean = tf.mean(y, [1, 2, 3], true);
  y = tf.add(tf.mul(tf.sub(y, mean), factor(1)), mean);
  if (c === 3) {
    const grey = tf.sum(tf.mul(y, tf.tensor1d([0.299, 0.587, 0.114])), 3, true);
    y = tf.add(tf.mul(tf.sub(y, grey), factor(2)), grey);
  }
  return tf.clipByValue(y, 0, 255) as tf.Tensor4D;
}
