import { UapError } from '../errors.js';
import { CROP_FRACTION, resizeCropBox, type ResizeCrop } from './resize-crop.js';

/**
 * The one resize-and-crop of decoded photos, shared by Node (`uap/node`'s decodeImage, after sharp decodes the
 * file at its full size) and the web page (after the browser decodes it): the same arithmetic on the same bytes
 * gives the same model input, so the page and `uap classify` agree.
 *
 * Resampling is bilinear with the filter widened when shrinking (the triangle filter of PIL's `Image.BILINEAR` and of
 * libvips' 'linear' reduce): each output pixel averages the input pixels under a triangle of half-width
 * max(1, in/out) input pixels, so a 4× reduction does not alias. It is written in plain JavaScript (float64
 * accumulators, one rounding at the end) rather than tfjs or canvas because both of those differ between backends
 * and browsers (`tf.image.resizeBilinear` also samples only 2×2 inputs, which aliases when shrinking).
 * Only the rows and columns inside the crop are computed.
 */

/** Decoded pixels, interleaved: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels; alpha is ignored. */
export interface PixelImage {
  readonly data: ArrayLike<number>;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

interface Taps {
  /** First input index of output i. */
  first: Int32Array;
  /** Number of taps of output i. */
  count: Int32Array;
  /** Normalised weights, `maxTaps` per output. */
  weights: Float64Array;
  maxTaps: number;
}

/**
 * Triangle-filter taps for outputs [start, start + n) of an inSize → outSize resize (PIL's precompute_coeffs):
 * output i is centred at (i + ½)·scale in input coordinates, scale = in/out.
 */
function taps(inSize: number, outSize: number, start: number, n: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Float64Array(n * maxTaps);
  for (let j = 0; j < n; j++) {
    const center = (start + j + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let sum = 0;
    const k = Math.min(hi - lo, maxTaps);
    for (let t = 0; t < k; t++) {
      const w = Math.max(0, 1 - Math.abs((lo + t - center + 0.5) / filterScale));
      weights[j * maxTaps + t] = w;
      sum += w;
    }
    if (sum > 0) for (let t = 0; t < k; t++) weights[j * maxTaps + t]! /= sum;
    first[j] = lo;
    count[j] = k;
  }
  return { first, count, weights, maxTaps };
}

/**
 * Resizes `image` with the standard ImageNet geometry (shorter side to round(size / cropFraction), centre crop; see
 * {@link resizeCropBox}) to `shape` = [H, W, C] (C = 3: RGB, a grey photo is repeated; C = 1: luminance
 * 0.299 R + 0.587 G + 0.114 B). Returns uint8 HWC pixels.
 */
export function resizeCropPixels(image: PixelImage, shape: readonly [number, number, number], cropFraction = CROP_FRACTION): Uint8Array {
  const [h, w, c] = shape;
  if (c !== 1 && c !== 3) throw new UapError('BAD_ARGUMENT', `cannot resize photos to ${c} channels (1 or 3)`, 'shape');
  const { width, height, channels } = image;
  if (!(width > 0 && height > 0 && channels >= 1 && channels <= 4)) {
    throw new UapError('BAD_INPUT', `not an image: ${width}×${height}×${channels}`, 'image');
  }
  if (image.data.length < width * height * channels) {
    throw new UapError('BAD_INPUT', `has ${image.data.length} values, ${width}×${height}×${channels} needs ${width * height * channels}`, 'image');
  }
  const box = resizeCropBox(width, height, h, w, cropFraction);
  return resampleBox(image, box, c);
}

/** Resamples `image` to box.resizeWidth × box.resizeHeight and returns the crop box's pixels (C = 1 or 3), uint8. */
export function resampleBox(image: PixelImage, box: ResizeCrop, c: 1 | 3): Uint8Array {
  const f = resampleFloat(image, box, c);
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const v = f[i]!;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return out;
}

/**
 * As resampleBox, without rounding or clipping: the linear map itself, so it also resamples signed fields
 * (apply-perturbation.ts inverts it approximately).
 */
export function resampleFloat(image: PixelImage, box: ResizeCrop, c: 1 | 3): Float64Array {
  const { data, width, height, channels } = image;
  const grey = channels < 3;
  const xs = taps(width, box.resizeWidth, box.left, box.width);
  const ys = taps(height, box.resizeHeight, box.top, box.height);
  // Input rows the vertical pass reads.
  const row0 = ys.first[0]!;
  const row1 = ys.first[box.height - 1]! + ys.count[box.height - 1]!;
  const rows = row1 - row0;
  // Horizontal pass: rows × box.width × 3 (RGB; grey sources are repeated at the end).
  const k = grey ? 1 : 3;
  const tmp = new Float64Array(rows * box.width * k);
  for (let r = 0; r < rows; r++) {
    const inRow = (row0 + r) * width * channels;
    const outRow = r * box.width * k;
    for (let x = 0; x < box.width; x++) {
      const f = xs.first[x]!;
      const n = xs.count[x]!;
      const wo = x * xs.maxTaps;
      let a = 0;
      let b = 0;
      let d = 0;
      for (let t = 0; t < n; t++) {
        const wt = xs.weights[wo + t]!;
        const p = inRow + (f + t) * channels;
        a += wt * data[p]!;
        if (k === 3) {
          b += wt * data[p + 1]!;
          d += wt * data[p + 2]!;
        }
      }
      const o = outRow + x * k;
      tmp[o] = a;
      if (k === 3) {
        tmp[o + 1] = b;
        tmp[o + 2] = d;
      }
    }
  }
  // Vertical pass (and luminance for C = 1).
  const out = new Float64Array(box.height * box.width * c);
  for (let y = 0; y < box.height; y++) {
    const f = ys.first[y]! - row0;
    const n = ys.count[y]!;
    const wo = y * ys.maxTaps;
    for (let x = 0; x < box.width; x++) {
      let a = 0;
      let b = 0;
      let d = 0;
      for (let t = 0; t < n; t++) {
        const wt = ys.weights[wo + t]!;
        const p = ((f + t) * box.width + x) * k;
        a += wt * tmp[p]!;
        if (k === 3) {
          b += wt * tmp[p + 1]!;
          d += wt * tmp[p + 2]!;
        }
      }
      if (k === 1) {
        b = a;
        d = a;
      }
      const o = (y * box.width + x) * c;
      if (c === 1) out[o] = 0.299 * a + 0.587 * b + 0.114 * d;
      else {
        out[o] = a;
        out[o + 1] = b;
        out[o + 2] = d;
      }
    }
  }
  return out;
}
