import type * as tf from '@tensorflow/tfjs';

/**
 * Filter layouts: the IR keeps TF's [kh, kw, in, out] (conv) and [kh, kw, C, multiplier] (depthwise);
 * ONNX wants [out, in/group, kh, kw]. The input gradient of a stride-1 convolution is a convolution of
 * the upstream gradient with the filter flipped in space and with in/out swapped, so those weights are
 * written here too.
 */

/** Conv forward weights [outC, inC, kh, kw]; with `flipped`, the input-gradient weights [inC, outC, kh, kw] flipped in space. */
export function convWeights(filter: tf.Tensor4D, flipped: boolean): { data: Float32Array; dims: number[] } {
  const [kh, kw, ci, co] = filter.shape;
  const f = filter.dataSync() as Float32Array;
  const out = new Float32Array(f.length);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) {
          const v = f[((a * kw + b) * ci + i) * co + o]!;
          if (flipped) out[((i * co + o) * kh + (kh - 1 - a)) * kw + (kw - 1 - b)] = v;
          else out[((o * ci + i) * kh + a) * kw + b] = v;
        }
      }
    }
  }
  return { data: out, dims: flipped ? [ci, co, kh, kw] : [co, ci, kh, kw] };
}

/**
 * Depthwise forward weights [C·m, 1, kh, kw] (output channel c·m + j, as TF orders them, group = C);
 * with `flipped`, the input-gradient weights [C, m, kh, kw] flipped in space (group = C again).
 */
export function depthwiseWeights(filter: tf.Tensor4D, flipped: boolean): { data: Float32Array; dims: number[] } {
  const [kh, kw, c, m] = filter.shape;
  const f = filter.dataSync() as Float32Array;
  const out = new Float32Array(f.length);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      for (let ch = 0; ch < c; ch++) {
        for (let j = 0; j < m; j++) {
          const v = f[((a * kw + b) * c + ch) * m + j]!;
          if (flipped) out[((ch * m + j) * kh + (kh - 1 - a)) * kw + (kw - 1 - b)] = v;
          else out[((ch * m + j) * kh + a) * kw + b] = v;
        }
      }
    }
  }
  return { data: out, dims: flipped ? [c, m, kh, kw] : [c * m, 1, kh, kw] };
}

export function values(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}
