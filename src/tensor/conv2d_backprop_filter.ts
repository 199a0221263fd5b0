import * as tf from '@tensorflow/tfjs';

/**
 * Conv2DBackpropFilter for backends that lack it (wasm), from kernels they have. The filter gradient
 * dW[a, b, c, o] = Σ_{n,i,j} x[n, a + s·i, b + s·j, c] · dy[n, i, j, o] is itself a convolution: of the
 * input with batch and channels swapped ([C, H, W, N]) by dy as a filter ([oh, ow, N, O]) dilated by
 * the stride. It runs on the backend's fast Conv2D kernel (an im2col + transposed matMul was 10×
 * slower on wasm). Attacks never need it (they differentiate the input only); training and
 * fine-tuning (`uap train`, `uap harden`) do.
 */
export function conv2dBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filterShape;
    const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode);
    const { top, bottom, left, right } = info.padInfo;
    const xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const xT = tf.transpose(xp, [3, 1, 2, 0]); // [C, Hp, Wp, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [oh, ow, N, O]
    const dilations: [number, number] = [info.strideHeight, info.strideWidth];
    const full = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', dilations); // [C, ≥kh, ≥kw, O]
    const cropped = tf.slice(full, [0, 0, 0, 0], [-1, kh, kw, -1]);
    return tf.transpose(cropped, [1, 2, 0, 3]) as tf.Tensor4D; // [kh, kw, C, O]
  });
}

let registered = false;

/** Registers the kernel on the wasm backend (idempotent). */
export function registerConv2DBackpropFilterForWasm(): void {
  if (registered || tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  registered = true;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, dy } = inputs as { x: tf.Tensor4D; dy: tf.Tensor4D };
      const a = attrs as unknown as {
        strides: [number, number];
        pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        filterShape: [number, number, number, number];
        dataFormat: string;
      };
      if (a.dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm: only NHWC (got ${a.dataFormat})`);
      return conv2dBackpropFilter(x, dy, a.filterShape, a.strides, a.pad, a.dimRoundingMode);
    },
  });
}
