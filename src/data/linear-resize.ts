import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { resampleFloat } from './resample.js';

/**
 * Resizing a batch of images as a linear map, so that gradients go through it exactly.
 *
 * A resize with a fixed filter is linear in the pixels and separable: out = R_h · X · R_wᵀ per image and channel,
 * R_h (outH × inH) and R_w (outW × inW) holding the filter weights. Its adjoint (the backward pass: ∂loss/∂X from
 * ∂loss/∂out) is then R_hᵀ · G · R_w — the same two matrix products with the matrices transposed, exact, on every
 * backend (tf.image.resizeBilinear's gradient kernel is missing on some, and it samples 2×2 pixels only, which
 * aliases when shrinking).
 *
 * The weights are those of the library's own photo resize (data/resample.ts: bilinear, the triangle filter widened
 * when shrinking, as PIL and libvips do), read off by resizing an identity image: a model that sees a 224-pixel
 * perturbation resized to its 192 pixels sees what it would see of a photo resized for it. Browser-safe.
 */

const cache = new Map<string, Float32Array>();

/** R (outSize × inSize, row-major): out[j] = Σ_i R[j, i] · in[i], the weights of data/resample.ts's resize. */
export function resizeMatrix(inSize: number, outSize: number): Float32Array {
  if (!(Number.isInteger(inSize) && Number.isInteger(outSize) && inSize >= 1 && outSize >= 1)) {
    throw new UapError('BAD_ARGUMENT', `sizes must be whole numbers ≥ 1, got ${inSize} → ${outSize}`, 'resize');
  }
  const key = `${inSize}>${outSize}`;
  const hit = cache.get(key);
  if (hit) return hit;
  // Row r of an identity image, resized horizontally only (height kept: a 1:1 vertical filter is the identity),
  // holds input pixel r's weight in each output: the transpose of R.
  const eye = new Float32Array(inSize * inSize);
  for (let i = 0; i < inSize; i++) eye[i * inSize + i] = 1;
  const rt = resampleFloat(
    { data: eye, width: inSize, height: inSize, channels: 1 },
    { resizeWidth: outSize, resizeHeight: inSize, left: 0, top: 0, width: outSize, height: inSize },
    1,
  );
  const r = new Float32Array(outSize * inSize);
  for (let i = 0; i < inSize; i++) for (let j = 0; j < outSize; j++) r[j * inSize + i] = rt[i * outSize + j]!;
  if (cache.size > 64) cache.clear();
  cache.set(key, r);
  return r;
}

/** M · x along the rows (axis 1) of x [N, A, B, C], M [I, A] (or Mᵀ with `transpose`, M [A, I]): [N, I, B, C]. */
function alongRows(x: tf.Tensor4D, m: tf.Tensor2D, transpose: boolean): tf.Tensor4D {
  const [n, a, b, c] = x.shape;
  const rows = transpose ? m.shape[1] : m.shape[0];
  const flat = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [a, n * b * c]);
  return tf.transpose(tf.reshape(tf.matMul(m, flat, transpose, false), [rows, n, b, c]), [1, 0, 2, 3]);
}

/** The same along the columns (axis 2): [N, A, J, C]. */
function alongCols(x: tf.Tensor4D, m: tf.Tensor2D, transpose: boolean): tf.Tensor4D {
  const [n, a, b, c] = x.shape;
  const cols = transpose ? m.shape[1] : m.shape[0];
  const flat = tf.reshape(tf.transpose(x, [2, 0, 1, 3]), [b, n * a * c]);
  return tf.transpose(tf.reshape(tf.matMul(m, flat, transpose, false), [cols, n, a, c]), [1, 2, 0, 3]);
}

/** x [N, H, W, C] resized to [N, outH, outW, C] with the library's photo resize (see the top of this file). */
export function linearResize(x: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (h === outH && w === outW) return tf.clone(x);
  return tf.tidy(() => {
    const rh = tf.tensor2d(resizeMatrix(h, outH), [outH, h]);
    const rw = tf.tensor2d(resizeMatrix(w, outW), [outW, w]);
    return alongCols(alongRows(x, rh, false), rw, false);
  });
}

/**
 * The adjoint of {@link linearResize}: g [N, outH, outW, C] (a gradient at the resized size) taken back to
 * [N, inH, inW, C]. For every x, g: ⟨linearResize(x), g⟩ = ⟨x, linearResizeAdjoint(g)⟩.
 */
export function linearResizeAdjoint(g: tf.Tensor4D, inH: number, inW: number): tf.Tensor4D {
  const [, outH, outW] = g.shape;
  if (inH === outH && inW === outW) return tf.clone(g);
  return tf.tidy(() => {
    const rh = tf.tensor2d(resizeMatrix(inH, outH), [outH, inH]);
    const rw = tf.tensor2d(resizeMatrix(inW, outW), [outW, inW]);
    return alongCols(alongRows(g, rh, true), rw, true);
  });
}

/**
 * Each image of x [N, H, W, C] down (or up) to round(s_i·H) × round(s_i·W) and back to H × W: the loss of detail
 * of a photo that was that much smaller (s < 1) or larger when a classifier resized it to its input. One matrix
 * A_i = R(s_i·H → H) · R(H → s_i·H) per image and axis.
 */
export function rescaleAndBack(x: tf.Tensor4D, scales: ArrayLike<number>): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (scales.length !== n) throw new UapError('BAD_ARGUMENT', `${scales.length} scales for ${n} images`, 'resize');
  const round = (size: number, s: number) => Math.max(1, Math.round(size * s));
  const roundTrip = (size: number, s: number): tf.Tensor2D => {
    const mid = round(size, s);
    return tf.matMul(tf.tensor2d(resizeMatrix(mid, size), [size, mid]), tf.tensor2d(resizeMatrix(size, mid), [mid, size]));
  };
  return tf.tidy(() => {
    const out: tf.Tensor4D[] = [];
    for (let i = 0; i < n; i++) {
      const xi = tf.slice(x, [i, 0, 0, 0], [1, h, w, c]);
      const s = scales[i]!;
      out.push(round(h, s) === h && round(w, s) === w ? xi : alongCols(alongRows(xi, roundTrip(h, s), false), roundTrip(w, s), false));
    }
    return tf.concat(out, 0);
  });
}
