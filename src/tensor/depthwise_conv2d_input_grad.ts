import * as tf from '@tensorflow/tfjs';
import { axisPadding, explicitPad, transposedConvInput, type ConvPad } from './conv_util.js';

/**
 * ∂L/∂x of y = depthwiseConv2d(x, filter) given dy = ∂L/∂y, built from kernels every backend has
 * (the wasm backend has no DepthwiseConv2dNativeBackpropInput): a depthwise convolution of the
 * zero-inserted, padded dy with the spatially flipped filter, then, for a channel multiplier M > 1,
 * a sum over the M outputs of each input channel (output channel c·M + m comes from input channel c).
 * Padding follows TF exactly, including 'same' asymmetry (the extra row/column goes at the end).
 *
 * dy [B, Ho, Wo, C·M], filter [kh, kw, C, M], xShape [B', H, W, C] (only H, W are used).
 */
export function depthwiseConv2dInputGrad(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  xShape: readonly number[],
  strides: [number, number],
  pad: ConvPad,
  dilations: [number, number] = [1, 1],
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, C, M] = filter.shape;
    const H = xShape[1]!;
    const W = xShape[2]!;
    const ph = axisPadding(H, kh, strides[0], dilations[0], pad, 0);
    const pw = axisPadding(W, kw, strides[1], dilations[1], pad, 1);
    if (ph.out !== dy.shape[1] || pw.out !== dy.shape[2] || dy.shape[3] !== C * M) {
      throw new Error(`depthwiseConv2dInputGrad: dy ${dy.shape} does not fit input ${xShape} / filter ${filter.shape}`);
    }
    if (POLYPHASE.enabled && strides[0] === strides[1] && strides[0] > 1 && dilations[0] === 1 && dilations[1] === 1) {
      return polyphase(dy, filter, H, W, strides[0], ph.before, pw.before);
    }
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, C * M, 1]) as tf.Tensor4D;
    const { x, pad: p } = transposedConvInput(dy, [H, W], [kh, kw], strides, dilations, [ph.before, pw.before]);
    const g = tf.depthwiseConv2d(x, flipped, 1, explicitPad(p), 'NHWC', dilations);
    if (M === 1) return g;
    return tf.sum(tf.reshape(g, [g.shape[0], H, W, C, M]), -1) as tf.Tensor4D;
  });
}

/** Switch for benchmarking the two forms of strided depthwise gradients. */
export const POLYPHASE = { enabled: true };

/**
 * Sub-pixel form for strides (s, s) (see conv2d_input_grad.ts): one depthwise convolution of dy with
 * channel multiplier s² (one output per phase), then an interleave.
 */
function polyphase(dy: tf.Tensor4D, filter: tf.Tensor4D, H: number, W: number, s: number, padTop: number, padLeft: number): tf.Tensor4D {
  const [kh, kw, C, M] = filter.shape;
  const b = dy.shape[0];
  const mh = Math.ceil(kh / s);
  const mw = Math.ceil(kw / s);
  const qh = Math.ceil((padTop + H) / s);
  const qw = Math.ceil((padLeft + W) / s);
  const fp = tf.pad(filter, [[0, mh * s - kh], [0, mw * s - kw], [0, 0], [0, 0]]);
  const g5 = tf.reverse(tf.reshape(fp, [mh, s, mw, s, C * M]), [0, 2]);
  const g = tf.reshape(tf.transpose(g5, [0, 2, 4, 1, 3]), [mh, mw, C * M, s * s]) as tf.Tensor4D;
  let d = dy;
  if (dy.shape[1] > qh || dy.shape[2] > qw) {
    d = tf.slice(dy, [0, 0, 0, 0], [b, Math.min(qh, dy.shape[1]), Math.min(qw, dy.shape[2]), C * M]);
  }
  let z: tf.Tensor = tf.depthwiseConv2d(d, g, 1, [
    [0, 0],
    [mh - 1, qh - d.shape[1]],
    [mw - 1, qw - d.shape[2]],
    [0, 0],
  ]); // [b, qh, qw, C·M·s²], channel (c·M + m)·s² + rh·s + rw
  if (M > 1) z = tf.sum(tf.reshape(z, [b, qh, qw, C, M, s * s]), 4);
  const inter = tf.transpose(tf.reshape(z, [b * qh, qw, C, s, s]), [0, 3, 1, 4, 2]);
  const full = tf.reshape(inter, [b, qh * s, qw * s, C]) as tf.Tensor4D;
  if (padTop === 0 && padLeft === 0 && qh * s === H && qw * s === W) return full;
  return tf.slice(full, [0, padTop, padLeft, 0], [b, H, W, C]);
}
