import * as tf from '@tensorflow/tfjs';
import { axisPadding } from './conv_util.js';
import { mulRepeated } from './repeat_rows.js';

/**
 * Input gradients of pooling ops with k upstream rows per image (dy [N·k, Ho, Wo, C], x [N, H, W, C]).
 * Average pooling runs the backends' AvgPoolGrad kernel; max pooling is built from plain ops (see below).
 */

/**
 * Max pooling: the gradient goes to the first maximum of each window in row-major order (as TF and
 * tfjs's cpu backend do). Not the wasm MaxPoolGrad / MaxPoolWithArgmax kernels: in tfjs-backend-wasm
 * 4.22 they drop the gradient of windows whose maximum is negative (MaxPoolGrad) or of 'same'-padded
 * edge windows (MaxPoolWithArgmax). The routing masks are computed once per image (N rows) and
 * broadcast over the k upstream rows of each image.
 */
export function maxPoolInputGrad(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  k: number,
  size: [number, number],
  strides: [number, number],
  pad: 'same' | 'valid',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, H, W, C] = x.shape;
    const [, ho, wo] = y.shape;
    const [ph, pw] = size;
    const [sh, sw] = strides;
    const top = axisPadding(H, ph, sh, 1, pad, 0).before;
    const left = axisPadding(W, pw, sw, 1, pad, 1).before;
    // Padded coordinates: window (i, j) covers rows i·sh + a, a < ph, of a frame of height hp.
    const hp = Math.max((ho - 1) * sh + ph, ho * sh);
    const wp = Math.max((wo - 1) * sw + pw, wo * sw);
    const xp = padOrCrop(x, top, hp, left, wp, -3.4e38);
    let gp: tf.Tensor4D;
    if (ph === sh && pw === sw) {
      // Non-overlapping windows: view x as [N, ho, ph, wo, pw, C]; everything is a broadcast
      // arithmetic op (fast on wasm; its StridedSlice and broadcasting Equal are ~100× slower).
      const mask = firstMaxMask(tf.reshape(xp, [n, ho, ph, wo, pw, C]), tf.reshape(y, [n, ho, 1, wo, 1, C]), ph, pw);
      // (XNNPACK broadcasts at most 6 dimensions: for k > 1, spread dy over the window columns first.)
      let prod: tf.Tensor;
      if (k === 1) {
        prod = tf.mul(tf.reshape(dy, [n, ho, 1, wo, 1, C]), mask);
      } else {
        const wide = tf.mul(tf.reshape(dy, [n * k * ho, wo, 1, C]), tf.ones([1, 1, pw, 1]));
        prod = tf.mul(tf.reshape(wide, [n, k, ho, 1, wo * pw * C]), tf.reshape(mask, [n, 1, ho, ph, wo * pw * C]));
      }
      gp = tf.reshape(prod, [n * k, ho * sh, wo * sw, C]);
    } else {
      // Overlapping windows: one strided view per window offset (a, b), first maxima in row-major order.
      let taken: tf.Tensor | undefined;
      const parts: tf.Tensor4D[] = [];
      for (let a = 0; a < ph; a++) {
        for (let b = 0; b < pw; b++) {
          const xs = tf.stridedSlice(xp, [0, a, b, 0], [n, a + (ho - 1) * sh + 1, b + (wo - 1) * sw + 1, C], [1, sh, sw, 1]);
          const eq = tf.equal(xs, y);
          const first = taken ? tf.logicalAnd(eq, tf.logicalNot(taken)) : eq;
          taken = taken ? tf.logicalOr(taken, eq) : eq;
          // scatter this offset's share: zero insertion, shift by (a, b)
          const share = mulRepeated(dy, tf.cast(first, 'float32'), k) as tf.Tensor4D;
          const spread =
            sh === 1 && sw === 1
              ? share
              : (tf.reshape(
                  tf.pad(tf.reshape(share, [n * k, ho, 1, wo, 1, C]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]),
                  [n * k, ho * sh, wo * sw, C],
                ) as tf.Tensor4D);
          parts.push(padOrCrop(spread, a, hp, b, wp, 0));
        }
      }
      gp = tf.addN(parts);
    }
    // back from padded coordinates to the input's
    return padOrCrop(gp, -top, H, -left, W, 0);
  });
}

/**
 * 1 at the first maximum (row-major within the window) of each window, else 0.
 * xw [N, ho, ph, wo, pw, C] (windows), ym [N, ho, 1, wo, 1, C] (their maxima).
 */
function firstMaxMask(xw: tf.Tensor, ym: tf.Tensor, ph: number, pw: number): tf.Tensor {
  // d ≤ 0, and d = 0 exactly at the maxima; isMax = 1 − step(−d)
  const isMax = tf.sub(1, tf.step(tf.neg(tf.sub(xw, ym))));
  const windows = ym.size;
  const hits = tf.sum(isMax).dataSync()[0]!;
  if (hits === windows) return isMax; // no ties (the common case with real-valued activations)
  // Ties: keep the earliest maximum. Priority ph·pw − (a·pw + b) is largest for the first position.
  const prio = new Float32Array(ph * pw);
  for (let i = 0; i < ph * pw; i++) prio[i] = ph * pw - i;
  const score = tf.mul(isMax, tf.reshape(tf.tensor1d(prio), [1, 1, ph, 1, pw, 1]));
  const best = tf.max(score, [2, 4], true);
  return tf.sub(1, tf.step(tf.neg(tf.sub(score, best))));
}

/**
 * Shifts t [B, h, w, C] by (dh, dw) (positive: pad in front; negative: cut from the front) and then pads
 * or cuts at the end so that the result is [B, outH, outW, C].
 */
function padOrCrop(t: tf.Tensor4D, dh: number, outH: number, dw: number, outW: number, value: number): tf.Tensor4D {
  const [b, h, w, c] = t.shape;
  const cutTop = Math.max(0, -dh);
  const cutLeft = Math.max(0, -dw);
  const padTop = Math.max(0, dh);
  const padLeft = Math.max(0, dw);
  const keepH = Math.min(h - cutTop, outH - padTop);
  const keepW = Math.min(w - cutLeft, outW - padLeft);
  let r = t;
  if (cutTop > 0 || cutLeft > 0 || keepH < h - cutTop || keepW < w - cutLeft) {
    r = tf.slice(r, [0, cutTop, cutLeft, 0], [b, keepH, keepW, c]);
  }
  const padBottom = outH - padTop - keepH;
  const padRight = outW - padLeft - keepW;
  if (padTop > 0 || padLeft > 0 || padBottom > 0 || padRight > 0) {
    r = tf.pad(r, [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]], value);
  }
  return r === t ? t.clone() : r;
}

export function avgPoolInputGrad(
  dy: tf.Tensor4D,
  xShape: readonly number[],
  size: [number, number],
  strides: [number, number],
  pad: 'same' | 'valid',
): tf.Tensor4D {
  return tf.tidy(() => {
    // The kernel only reads the input's shape.
    const shape = [dy.shape[0], xShape[1]!, xShape[2]!, xShape[3]!] as [number, number, number, number];
    const input = tf.zeros(shape);
    return tf.engine().runKernel(
      'AvgPoolGrad',
      { dy, input },
      { filterSize: size, strides, pad } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
  });
}

/** dy [B, C] of a mean over H and W → [B, H, W, C]. */
export function globalAvgPoolInputGrad(dy: tf.Tensor2D, h: number, w: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, c] = dy.shape;
    // a broadcast product, not tf.broadcastTo (the wasm Tile kernel is ~400× slower here)
    return tf.mul(tf.reshape(dy, [b, 1, 1, c]), tf.fill([1, h, w, 1], 1 / (h * w))) as tf.Tensor4D;
  });
}
