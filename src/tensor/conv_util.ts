import * as tf from '@tensorflow/tfjs';

/**
 * Shared geometry for the input gradients of convolutions, computed exactly as TensorFlow does.
 *
 * The input gradient of a (strided, dilated, padded) correlation is a stride-1 correlation of the
 * upstream gradient — with (stride − 1) zeros inserted between its elements and zero-padded — with the
 * spatially flipped filter. `transposedConvInput` builds that upstream and the explicit padding that the
 * forward convolution kernel should apply (explicit padding is free inside the kernel; a separate pad op
 * is not), so the gradient runs on the backend's fast forward kernels (XNNPACK on wasm).
 */

export type ConvPad = 'same' | 'valid' | number | [[number, number], [number, number]];

export interface AxisPadding {
  /** zero padding before the first input element */
  before: number;
  /** number of outputs along the axis */
  out: number;
}

/** TF's output size and leading padding for one spatial axis. */
export function axisPadding(inSize: number, filter: number, stride: number, dilation: number, pad: ConvPad, axis: 0 | 1): AxisPadding {
  const eff = (filter - 1) * dilation + 1;
  if (pad === 'valid') return { before: 0, out: Math.ceil((inSize - eff + 1) / stride) };
  if (pad === 'same') {
    const out = Math.ceil(inSize / stride);
    const total = Math.max((out - 1) * stride + eff - inSize, 0);
    return { before: Math.floor(total / 2), out };
  }
  if (typeof pad === 'number') {
    return { before: pad, out: Math.floor((inSize + 2 * pad - eff) / stride) + 1 };
  }
  const [b, a] = pad[axis];
  return { before: b, out: Math.floor((inSize + b + a - eff) / stride) + 1 };
}

/**
 * Upstream gradient dy [B, Ho, Wo, C] of a convolution over an input of spatial size [H, W] with a
 * filter of spatial size [kh, kw] → the tensor and explicit paddings such that a stride-1, 'valid'
 * correlation (with the same dilations) of it with the flipped filter gives the input gradient [B, H, W, ·].
 */
export function transposedConvInput(
  dy: tf.Tensor4D,
  inSize: [number, number],
  filterSize: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padBefore: [number, number],
): { x: tf.Tensor4D; pad: [[number, number], [number, number]] } {
  const [b, ho, wo, c] = dy.shape;
  const outSize = [ho, wo];
  const lead = [0, 0];
  const trail = [0, 0];
  const pads: [number, number][] = [];
  for (const a of [0, 1] as const) {
    const eff = (filterSize[a] - 1) * dilations[a] + 1;
    const s = strides[a];
    const before = eff - 1 - padBefore[a];
    const after = inSize[a] + eff - 1 - before - ((outSize[a]! - 1) * s + 1);
    if (before < 0 || after < 0) throw new Error(`conv input gradient: inconsistent padding on axis ${a}`);
    // Zero insertion puts s − 1 zeros next to every element; put as many as allowed in front so that
    // the explicit padding stays non-negative.
    lead[a] = Math.min(before, s - 1);
    trail[a] = s - 1 - lead[a]!;
    pads.push([before - lead[a]!, after - trail[a]!]);
  }
  let x = dy;
  if (strides[0] > 1 || strides[1] > 1) {
    x = tf.pad(tf.reshape(dy, [b, ho, 1, wo, 1, c]), [
      [0, 0],
      [0, 0],
      [lead[0]!, trail[0]!],
      [0, 0],
      [lead[1]!, trail[1]!],
      [0, 0],
    ]).reshape([b, ho * strides[0], wo * strides[1], c]);
  }
  // A negative trailing padding only ever cuts inserted zeros.
  const cutH = Math.max(0, -pads[0]![1]);
  const cutW = Math.max(0, -pads[1]![1]);
  if (cutH > 0 || cutW > 0) {
    x = tf.slice(x, [0, 0, 0, 0], [b, x.shape[1] - cutH, x.shape[2] - cutW, c]);
    pads[0]![1] += cutH;
    pads[1]![1] += cutW;
  }
  return { x, pad: [pads[0]!, pads[1]!] };
}

/** TF-style explicit padding argument for tf.conv2d / tf.depthwiseConv2d. */
export function explicitPad(p: [[number, number], [number, number]]): [[0, 0], [number, number], [number, number], [0, 0]] {
  return [[0, 0], p[0], p[1], [0, 0]];
}
