import { UapError } from '../errors.js';
import type { PixelImage } from './resample.js';
import { CROP_FRACTION, resizeCropBox } from './resize-crop.js';

/**
 * A perturbation v (model size, H × W × C, pixel units) added to a photo at the photo's own resolution.
 *
 * The model sees the photo through {@link resizeCropBox}: scaled by s = resizeWidth / width (and the same
 * vertically), then centre-cropped. So v belongs on the crop region of the photo, magnified by 1/s: photo pixel X
 * (centre X + ½) sits at model coordinate u = (X + ½)·s − left, and gets v bilinearly sampled at u − ½. Outside the
 * crop v repeats (tiled), so the whole photo carries it and a crop the model takes elsewhere still sees v's pattern.
 * Resizing the result back with resizeCropPixels gives ≈ clip(x + v) up to resampling blur, which is why the same
 * perturbation still fools the model on the saved full-size photo.
 *
 * Browser-safe (plain arithmetic); the web page and a `uap apply` share it. Returns RGBA, alpha 255, 8 bits.
 */
export interface AppliedPhoto {
  readonly data: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

export interface ApplyOptions {
  /** The crop fraction the model's input was made with (default 0.875). */
  cropFraction?: number;
  /** v is multiplied by this first (default 1). */
  scale?: number;
}

export function applyPerturbationToPhoto(
  photo: PixelImage,
  v: Float32Array,
  vShape: readonly [number, number, number],
  opts: ApplyOptions = {},
): AppliedPhoto {
  const [h, w, c] = vShape;
  if (v.length !== h * w * c) throw new UapError('BAD_INPUT', `has ${v.length} values, not ${vShape.join('×')}`, 'perturbation');
  const { data, width, height, channels } = photo;
  if (data.length < width * height * channels) throw new UapError('BAD_INPUT', `not a ${width}×${height}×${channels} image`, 'photo');
  const box = resizeCropBox(width, height, h, w, opts.cropFraction ?? CROP_FRACTION);
  const sx = box.resizeWidth / width;
  const sy = box.resizeHeight / height;
  const scale = opts.scale ?? 1;
  // Bilinear sample positions per column and row (tiled: indices modulo the perturbation's size).
  const mod = (i: number, n: number) => ((i % n) + n) % n;
  const cols = Array.from({ length: width }, (_, X) => {
    const u = (X + 0.5) * sx - box.left - 0.5;
    const u0 = Math.floor(u);
    return [mod(u0, w), mod(u0 + 1, w), u - u0] as const;
  });
  const out = new Uint8ClampedArray(width * height * 4);
  for (let Y = 0; Y < height; Y++) {
    const t = (Y + 0.5) * sy - box.top - 0.5;
    const t0 = Math.floor(t);
    const r0 = mod(t0, h) * w;
    const r1 = mod(t0 + 1, h) * w;
    const fy = t - t0;
    for (let X = 0; X < width; X++) {
      const [a, b, fx] = cols[X]!;
      const p = (Y * width + X) * channels;
      const o = (Y * width + X) * 4;
      for (let k = 0; k < 3; k++) {
        const ck = c === 1 ? 0 : k;
        const top = v[(r0 + a) * c + ck]! * (1 - fx) + v[(r0 + b) * c + ck]! * fx;
        const bottom = v[(r1 + a) * c + ck]! * (1 - fx) + v[(r1 + b) * c + ck]! * fx;
        const x = data[p + (channels < 3 ? 0 : k)]!;
        out[o + k] = Math.round(x + scale * (top * (1 - fy) + bottom * fy)); // Uint8ClampedArray clips to 0..255
      }
      out[o + 3] = 255;
    }
  }
  return { data: out, width, height };
}
