import { UapError } from '../errors.js';
import { resampleFloat, type PixelImage } from './resample.js';
import { CROP_FRACTION, resizeCropBox, type ResizeCrop } from './resize-crop.js';

/** A photo with v added: RGBA, 8 bits, the photo's own size. */
export interface AppliedPhoto {
  readonly data: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

/** Options of {@link applyPerturbationToPhoto}. */
export interface ApplyOptions {
  /** The crop fraction the model's input was made with (default 0.875). */
  cropFraction?: number;
  /** v is multiplied by this first (default 1). */
  scale?: number;
  /** Back-projection steps that make the model's view of the photo match v (default 4; 0: the plain rescale). */
  refine?: number;
  /** Largest change of a photo pixel value (default ‖scale · v‖∞, the bound v itself keeps). */
  limit?: number;
}

/** The defaults of {@link ApplyOptions}. */
export const APPLY_DEFAULTS = { refine: 4 } as const;

/**
 * A perturbation v (model size, H × W × C, pixel units) added to a photo at the photo's own resolution.
 *
 * The model sees the photo through {@link resizeCropBox}: scaled by s = resizeWidth / width (and the same
 * vertically), then centre-cropped. So v belongs on the crop region of the photo, magnified by 1/s: photo pixel X
 * (centre X + ½) sits at model coordinate u = (X + ½)·s − left, and gets v bilinearly sampled at u − ½ (`up`).
 * Outside the crop v repeats (tiled), so the whole photo carries it.
 *
 * Why refine: the model's resize (resizeCropPixels, a triangle filter as wide as 1/s) blurs the magnified v, and
 * a universal perturbation lives in fine detail — measured on 40 full-size originals of val.txt with the paper
 * authors' VGG-16 v on mobilenet_v1_0.25_224, the plain rescale fooled 11 (v at model size: 21). So V starts as
 * up(v) and takes `refine` back-projection steps V ← clamp(V + up(v − down(V)), ±limit), where down is the model's
 * resize-and-crop (linear, data/resample.ts): down(V) → v, i.e. the model sees v again. With limit = ‖v‖∞ (no
 * pixel of the photo moves more than v allows) 4 steps fooled 16 of those 40; with 1.5‖v‖∞, 20.
 *
 * Browser-safe (plain arithmetic); the web page and `uap apply` share it. Returns RGBA, alpha 255, 8 bits.
 */
export function applyPerturbationToPhoto(
  photo: PixelImage,
  v: Float32Array,
  vShape: readonly [number, number, number],
  opts: ApplyOptions = {},
): AppliedPhoto {
  const [h, w, c] = vShape;
  if (c !== 1 && c !== 3) throw new UapError('BAD_INPUT', `a ${vShape.join('×')} perturbation has ${c} channels (1 or 3)`, 'perturbation');
  if (v.length !== h * w * c) throw new UapError('BAD_INPUT', `has ${v.length} values, not ${vShape.join('×')}`, 'perturbation');
  const { data, width, height, channels } = photo;
  if (data.length < width * height * channels) throw new UapError('BAD_INPUT', `not a ${width}×${height}×${channels} image`, 'photo');
  const refine = opts.refine ?? APPLY_DEFAULTS.refine;
  if (!(Number.isInteger(refine) && refine >= 0)) throw new UapError('BAD_ARGUMENT', `refine must be a whole number ≥ 0, got ${refine}`, 'refine');
  const box = resizeCropBox(width, height, h, w, opts.cropFraction ?? CROP_FRACTION);
  const scale = opts.scale ?? 1;
  const target = scale === 1 ? v : v.map((a) => a * scale);
  let limit = opts.limit ?? 0;
  if (opts.limit === undefined) for (const a of target) limit = Math.max(limit, Math.abs(a));

  // V: the perturbation at the photo's size, c channels.
  const V = new Float32Array(width * height * c);
  addUp(V, target, width, height, box, vShape, limit);
  const field = { data: V, width, height, channels: c };
  const residual = new Float32Array(target.length);
  for (let step = 0; step < refine; step++) {
    const seen = resampleFloat(field, box, c as 1 | 3);
    for (let i = 0; i < residual.length; i++) residual[i] = target[i]! - seen[i]!;
    addUp(V, residual, width, height, box, vShape, limit);
  }

  const out = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < 3; k++) {
      const x = data[p * channels + (channels < 3 ? 0 : k)]!;
      out[p * 4 + k] = Math.round(x + V[p * c + (c === 1 ? 0 : k)]!); // Uint8ClampedArray clips to 0..255
    }
    out[p * 4 + 3] = 255;
  }
  return { data: out, width, height };
}

/** V += up(r), clamped to ±limit: r (model size) sampled bilinearly at each photo pixel's model coordinate, tiled. */
function addUp(V: Float32Array, r: Float32Array, width: number, height: number, box: ResizeCrop, shape: readonly [number, number, number], limit: number): void {
  const [h, w, c] = shape;
  const sx = box.resizeWidth / width;
  const sy = box.resizeHeight / height;
  const mod = (i: number, n: number) => ((i % n) + n) % n;
  const colA = new Int32Array(width);
  const colB = new Int32Array(width);
  const colF = new Float64Array(width);
  for (let X = 0; X < width; X++) {
    const u = (X + 0.5) * sx - box.left - 0.5;
    const u0 = Math.floor(u);
    colA[X] = mod(u0, w);
    colB[X] = mod(u0 + 1, w);
    colF[X] = u - u0;
  }
  for (let Y = 0; Y < height; Y++) {
    const t = (Y + 0.5) * sy - box.top - 0.5;
    const t0 = Math.floor(t);
    const r0 = mod(t0, h) * w;
    const r1 = mod(t0 + 1, h) * w;
    const fy = t - t0;
    for (let X = 0; X < width; X++) {
      const a = colA[X]!;
      const b = colB[X]!;
      const fx = colF[X]!;
      for (let k = 0; k < c; k++) {
        const top = r[(r0 + a) * c + k]! * (1 - fx) + r[(r0 + b) * c + k]! * fx;
        const bottom = r[(r1 + a) * c + k]! * (1 - fx) + r[(r1 + b) * c + k]! * fx;
        const o = (Y * width + X) * c + k;
        const next = V[o]! + top * (1 - fy) + bottom * fy;
        V[o] = next > limit ? limit : next < -limit ? -limit : next;
      }
    }
  }
}
