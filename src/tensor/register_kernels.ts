import * as tf from '@tensorflow/tfjs';
import { depthwiseConv2dInputGrad } from './depthwise_conv2d_input_grad.js';
import type { ConvPad } from './conv_util.js';
import { registerConv2DBackpropFilterForWasm } from './conv2d_backprop_filter.js';

/**
 * Kernels that some backends lack, built from kernels they have. Registering
 * 'DepthwiseConv2dNativeBackpropInput' for wasm makes tfjs's stock gradient of tf.depthwiseConv2d
 * (tf.grad and friends, with respect to the input) work on wasm; on wasm, Conv2DBackpropFilter
 * (conv2d_backprop_filter.ts, for training) is registered too. Idempotent.
 */
export function registerMissingKernels(backendName = 'wasm'): void {
  if (backendName === 'wasm') registerConv2DBackpropFilterForWasm();
  const name = 'DepthwiseConv2dNativeBackpropInput';
  if (tf.getKernel(name, backendName) !== undefined) return;
  tf.registerKernel({
    kernelName: name,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, filter } = inputs as unknown as { dy: tf.Tensor4D; filter: tf.Tensor4D };
      const a = attrs as unknown as {
        strides: number | [number, number];
        pad: 'same' | 'valid' | number | number[][];
        dilations: number | [number, number];
        dimRoundingMode?: string;
        inputShape: [number, number, number, number];
      };
      const pair = (v: number | [number, number] | undefined): [number, number] =>
        v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
      let pad: ConvPad;
      if (typeof a.pad === 'string' || typeof a.pad === 'number') pad = a.pad;
      else {
        // explicit [[0,0],[t,b],[l,r],[0,0]] (NHWC)
        const p = a.pad;
        pad = [
          [p[1]![0]!, p[1]![1]!],
          [p[2]![0]!, p[2]![1]!],
        ];
      }
      if (a.dimRoundingMode !== undefined && typeof pad === 'number') {
        throw new Error('DepthwiseConv2dNativeBackpropInput: dimRoundingMode is not supported');
      }
      // Returning a Tensor makes the engine hand it out as is.
      return depthwiseConv2dInputGrad(dy, filter, a.inputShape, pair(a.strides), pad, pair(a.dilations));
    },
  });
}
