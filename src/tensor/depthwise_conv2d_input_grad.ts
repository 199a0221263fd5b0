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
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, C * M, 1]) as tf.Tensor4D;
    const { x, pad: p } = transposedConvInput(dy, [H, W], [kh, kw], strides, dilations, [ph.before, pw.before]);
    const g = tf.depthwiseConv2d(x, flipped, 1, explicitPad(p), 'NHWC', dilations);
    if (M === 1) return g;
    return tf.sum(tf.reshape(g, [g.shape[0], H, W, C, M]), -1) as tf.Tensor4D;
  });
}
