import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { createRng, gaussian, type Rng } from '../util/rng.js';
import type { Batch } from './batch.js';
import type { ImageSource } from './image-source.js';

/**
 * Data-free priors: synthetic images (pixels 0..255, HWC) drawn from a seeded distribution, standing in for the
 * training photos X when none may be used. A universal perturbation computed on them never sees a photo; the
 * attacks label them with the model's own top-1 (as for photos: the clean prediction is the reference).
 *
 *   gaussian  every value i.i.d. N(mean, σ²), clipped to 0..255 (PSP-UAP, CVPR 2025, and GD-UAP's "range prior",
 *             TPAMI 2018, sample pseudo-images from such noise). Defaults mean 128, σ 40.
 *   jigsaw    the image is cut into a g×g grid of tiles (g uniform in minTiles..maxTiles, per image); each tile is
 *             one random colour plus a smooth random blob field (a 3×3 grid of N(0, blob²) offsets per channel,
 *             bilinearly upsampled to the tile) plus fine N(0, σ²) noise, clipped (the artificial "jigsaw images"
 *             of Zhang et al., ICLR 2021 workshop, that PSP-UAP also uses): patches with edges and colour, more
 *             like photo statistics than white noise.
 *
 * Image i depends only on (kind, settings, seed, i): a generator per image is seeded from the seed and the index,
 * so any subset can be produced in any order and every run, on every platform, gets the same pixels. Nothing is
 * read: no file, no network. Browser-safe.
 */

export const PRIOR_KINDS = ['gaussian', 'jigsaw'] as const;
/** The data-free priors: Gaussian noise, or a jigsaw of coloured tiles with smooth blobs and fine noise. */
export type PriorKind = (typeof PRIOR_KINDS)[number];

/** What a prior generates: its kind, how many images of which shape, its seed and its settings. */
export interface PriorOptions {
  kind: PriorKind;
  /** Number of images. */
  n: number;
  /** [H, W, C] of every image (the model's input). */
  shape: readonly [number, number, number];
  /** Seed of the images (default 0). */
  seed?: number;
  /** gaussian: mean pixel value (default 128). */
  mean?: number;
  /** gaussian: standard deviation σ in pixels; jigsaw: σ of the fine noise (defaults 40 and 16). */
  sigma?: number;
  /** jigsaw: σ of the smooth blob field, pixels (default 48). */
  blob?: number;
  /** jigsaw: fewest and most tiles per side (defaults 2 and 8). */
  minTiles?: number;
  maxTiles?: number;
}

/** The defaults of each prior (see the file comment). */
export const PRIOR_DEFAULTS = {
  n: 256,
  seed: 0,
  gaussian: { mean: 128, sigma: 40 },
  jigsaw: { sigma: 16, blob: 48, minTiles: 2, maxTiles: 8 },
} as const;

function finite(x: number, option: string, min = Number.NEGATIVE_INFINITY): number {
  if (!Number.isFinite(x) || x < min) throw new UapError('BAD_ARGUMENT', `must be a finite number ≥ ${min}, got ${x}`, option);
  return x;
}

function positiveInt(x: number, option: string): number {
  if (!Number.isInteger(x) || x < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${x}`, option);
  return x;
}

/** A prior's options with every default filled in. */
export type ResolvedPriorOptions = Required<PriorOptions>;

/** Validates a prior's options and fills in the defaults; UapError BAD_ARGUMENT naming the option. */
export function resolvePrior(o: PriorOptions): ResolvedPriorOptions {
  if (!PRIOR_KINDS.includes(o.kind)) throw new UapError('BAD_ARGUMENT', `unknown prior "${String(o.kind)}" (expected ${PRIOR_KINDS.join(' or ')})`, 'kind');
  positiveInt(o.n, 'n');
  if (o.shape.length !== 3) throw new UapError('BAD_ARGUMENT', `must be [H, W, C], got [${o.shape.join(', ')}]`, 'shape');
  o.shape.forEach((d) => positiveInt(d, 'shape'));
  const g = o.kind === 'gaussian';
  const r: ResolvedPriorOptions = {
    kind: o.kind,
    n: o.n,
    shape: [o.shape[0], o.shape[1], o.shape[2]],
    seed: finite(o.seed ?? PRIOR_DEFAULTS.seed, 'seed'),
    mean: finite(o.mean ?? PRIOR_DEFAULTS.gaussian.mean, 'mean'),
    sigma: finite(o.sigma ?? (g ? PRIOR_DEFAULTS.gaussian.sigma : PRIOR_DEFAULTS.jigsaw.sigma), 'sigma', 0),
    blob: finite(o.blob ?? PRIOR_DEFAULTS.jigsaw.blob, 'blob', 0),
    minTiles: positiveInt(o.minTiles ?? PRIOR_DEFAULTS.jigsaw.minTiles, 'minTiles'),
    maxTiles: positiveInt(o.maxTiles ?? PRIOR_DEFAULTS.jigsaw.maxTiles, 'maxTiles'),
  };
  if (r.minTiles > r.maxTiles) throw new UapError('BAD_ARGUMENT', `minTiles ${r.minTiles} exceeds maxTiles ${r.maxTiles}`, 'minTiles');
  return r;
}

/** The generator of image `index`: one stream per (seed, index), unrelated for nearby indices (createRng scrambles). */
function imageRng(seed: number, index: number): Rng {
  const mix = createRng(seed);
  const offset = Math.floor(mix() * 4294967296);
  return createRng(offset + index * 0x9e3779b1);
}

const clip255 = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : x);

function gaussianImage(o: ResolvedPriorOptions, rng: Rng, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = clip255(o.mean + o.sigma * gaussian(rng));
}

/** Bilinear value at (u, v) ∈ [0, 1]² of a 3×3 grid (row-major). */
function smooth3(grid: Float64Array, u: number, v: number): number {
  const y = u * 2;
  const x = v * 2;
  const y0 = Math.min(1, Math.floor(y));
  const x0 = Math.min(1, Math.floor(x));
  const fy = y - y0;
  const fx = x - x0;
  const g = (r: number, c: number) => grid[r * 3 + c]!;
  return (
    (1 - fy) * ((1 - fx) * g(y0, x0) + fx * g(y0, x0 + 1)) +
    fy * ((1 - fx) * g(y0 + 1, x0) + fx * g(y0 + 1, x0 + 1))
  );
}

function jigsawImage(o: ResolvedPriorOptions, rng: Rng, out: Float32Array): void {
  const [h, w, c] = o.shape;
  const tiles = o.minTiles + Math.floor(rng() * (o.maxTiles - o.minTiles + 1));
  const grid = new Float64Array(9);
  for (let ty = 0; ty < tiles; ty++) {
    const y0 = Math.floor((ty * h) / tiles);
    const y1 = Math.floor(((ty + 1) * h) / tiles);
    for (let tx = 0; tx < tiles; tx++) {
      const x0 = Math.floor((tx * w) / tiles);
      const x1 = Math.floor(((tx + 1) * w) / tiles);
      for (let ch = 0; ch < c; ch++) {
        const base = rng() * 255;
        for (let k = 0; k < 9; k++) grid[k] = o.blob * gaussian(rng);
        for (let y = y0; y < y1; y++) {
          const u = y1 - y0 > 1 ? (y - y0) / (y1 - y0 - 1) : 0;
          for (let x = x0; x < x1; x++) {
            const v = x1 - x0 > 1 ? (x - x0) / (x1 - x0 - 1) : 0;
            out[(y * w + x) * c + ch] = clip255(base + smooth3(grid, u, v) + o.sigma * gaussian(rng));
          }
        }
      }
    }
  }
}

/** Pixels of image `index` of a prior (HWC, 0..255). */
export function priorImage(options: PriorOptions, index: number): Float32Array {
  const o = resolvePrior(options);
  if (!Number.isInteger(index) || index < 0 || index >= o.n) throw new RangeError(`image ${index} outside 0..${o.n - 1}`);
  return imageOf(o, index);
}

function imageOf(o: ResolvedPriorOptions, index: number): Float32Array {
  const out = new Float32Array(o.shape[0] * o.shape[1] * o.shape[2]);
  const rng = imageRng(o.seed, index);
  if (o.kind === 'gaussian') gaussianImage(o, rng, out);
  else jigsawImage(o, rng, out);
  return out;
}

/** A prior as an ImageSource: images are generated when asked for, nothing is held. */
export function priorSource(options: PriorOptions): ImageSource {
  const o = resolvePrior(options);
  const size = o.shape[0] * o.shape[1] * o.shape[2];
  return {
    size: o.n,
    get(indices: Int32Array): tf.Tensor4D {
      const out = new Float32Array(indices.length * size);
      indices.forEach((idx, j) => {
        if (idx < 0 || idx >= o.n) throw new RangeError(`image ${idx} outside 0..${o.n - 1}`);
        out.set(imageOf(o, idx), j * size);
      });
      return tf.tensor4d(out, [indices.length, ...o.shape]);
    },
  };
}

/**
 * A prior as a Batch (what a data spec loads): labels −1 (a prior has no true classes; attacks use the model's
 * own predictions), names "prior:KIND#i".
 */
export function priorBatch(options: PriorOptions, onProgress?: (done: number, total: number) => void): Batch {
  const o = resolvePrior(options);
  const size = o.shape[0] * o.shape[1] * o.shape[2];
  const images = new Float32Array(o.n * size);
  for (let i = 0; i < o.n; i++) {
    images.set(imageOf(o, i), i * size);
    if ((i + 1) % 16 === 0 || i + 1 === o.n) onProgress?.(i + 1, o.n);
  }
  return { images, labels: new Int32Array(o.n).fill(-1), n: o.n, shape: [...o.shape], names: Array.from({ length: o.n }, (_, i) => `prior:${o.kind}#${i}`) };
}
