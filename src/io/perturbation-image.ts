/**
 * Perturbations and images as 8-bit pictures. Browser-safe (the page draws these with putImageData;
 * node/png.ts writes them to files).
 */

/** An 8-bit image, row-major, interleaved channels. */
export interface Image8 {
  data: Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

function check(values: Float32Array, shape: readonly [number, number, number], per = 1): void {
  const size = shape[0] * shape[1] * shape[2];
  if (values.length !== size * per) throw new RangeError(`${values.length} values do not match ${shape.join('×')}`);
}

/** Largest |v|. */
export function maxAbs(v: Float32Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a > m) m = a;
  }
  return m;
}

function toImage(
  shape: readonly [number, number, number],
  channels: 3 | 4,
  value: (i: number) => number,
): Image8 {
  const [h, w, c] = shape;
  const out = new Uint8ClampedArray(h * w * channels);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) out[p * channels + k] = value(p * c + (c === 1 ? 0 : Math.min(k, c - 1)));
    if (channels === 4) out[p * channels + 3] = 255;
  }
  return { data: out, width: w, height: h, channels };
}

/**
 * The perturbation at full contrast, as in the paper's Fig. 4: [−s, +s] maps to [0, 255], s = max|v| by
 * default (so 0 is mid-grey, 128). Greyscale perturbations (C = 1) come out grey in RGB.
 */
export function perturbationToImage(
  v: Float32Array,
  shape: readonly [number, number, number],
  opts: { channels?: 3 | 4; scale?: number } = {},
): Image8 {
  check(v, shape);
  const s = opts.scale ?? maxAbs(v);
  const k = s > 0 ? 127.5 / s : 0;
  return toImage(shape, opts.channels ?? 4, (i) => Math.round(127.5 + v[i]! * k));
}

/** Pixels (0..255 floats, HWC) as an 8-bit image, rounded and clipped. */
export function pixelsToImage(x: Float32Array, shape: readonly [number, number, number], channels: 3 | 4 = 4): Image8 {
  check(x, shape);
  return toImage(shape, channels, (i) => Math.round(x[i]!));
}

/**
 * x + v for every image of x (n × H × W × C) with one perturbation v (H × W × C), clipped to 0..255
 * unless `clip` is false. Returns a new array.
 */
export function addPerturbation(x: Float32Array, v: Float32Array, clip = true): Float32Array {
  if (v.length === 0 || x.length % v.length !== 0) {
    throw new RangeError(`images of ${x.length} values do not divide into perturbations of ${v.length}`);
  }
  const out = new Float32Array(x.length);
  for (let i = 0, j = 0; i < x.length; i++, j = j + 1 === v.length ? 0 : j + 1) {
    const s = x[i]! + v[j]!;
    out[i] = clip ? (s < 0 ? 0 : s > 255 ? 255 : s) : s;
  }
  return out;
}

/** One perturbed image x + v as an 8-bit picture. */
export function perturbedImage(
  x: Float32Array,
  v: Float32Array,
  shape: readonly [number, number, number],
  channels: 3 | 4 = 4,
): Image8 {
  check(x, shape);
  return pixelsToImage(addPerturbation(x, v, true), shape, channels);
}

/** Images side by side (same height), with `gap` columns of `background` between. */
export function hconcatImages(images: readonly Image8[], gap = 0, background = 255): Image8 {
  if (images.length === 0) throw new RangeError('no images');
  const height = images[0]!.height;
  const channels = images[0]!.channels;
  if (images.some((im) => im.height !== height || im.channels !== channels)) {
    throw new RangeError('hconcatImages needs images of the same height and channels');
  }
  const width = images.reduce((s, im) => s + im.width, 0) + gap * (images.length - 1);
  const data = new Uint8ClampedArray(width * height * channels).fill(background);
  let x0 = 0;
  for (const im of images) {
    for (let y = 0; y < height; y++) {
      data.set(im.data.subarray(y * im.width * channels, (y + 1) * im.width * channels), (y * width + x0) * channels);
    }
    x0 += im.width + gap;
  }
  return { data, width, height, channels };
}
