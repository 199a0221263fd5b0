import * as tf from '@tensorflow/tfjs';
import type { Activation, Net, NetOp, Padding } from './ir.js';

/**
 * Forward pass of a Net. Fused conv ops are used here (fast forward); the backward pass never
 * differentiates through them (see backward.ts), so their eager filter gradients are never paid for.
 */

export function activate(x: tf.Tensor, a: Activation): tf.Tensor {
  if (a === 'linear') return x;
  if (a === 'relu') return tf.relu(x);
  if (a === 'relu6') return tf.relu6(x);
  return tf.leakyRelu(x, a.leakyAlpha);
}

export function fusedActivation(a: Activation): {
  activation: 'linear' | 'relu' | 'relu6' | 'leakyrelu';
  leakyreluAlpha?: number;
} {
  if (typeof a === 'string') return { activation: a };
  return { activation: 'leakyrelu', leakyreluAlpha: a.leakyAlpha };
}

/** Explicit paddings become a zero-pad before a 'valid' op, so backward has one case fewer. */
function padExplicit(x: tf.Tensor4D, pad: Padding): [tf.Tensor4D, 'same' | 'valid'] {
  if (typeof pad === 'string') return [x, pad];
  return [tf.pad(x, [[0, 0], pad[0], pad[1], [0, 0]]), 'valid'];
}

type ConvOp = Extract<NetOp, { kind: 'conv2d' | 'depthwiseConv2d' }>;
type FusedConv = (args: Parameters<typeof tf.fused.depthwiseConv2d>[0]) => tf.Tensor;

/** A fused (depthwise) convolution with bias and activation; explicit padding becomes a zero-pad first. */
function convolve(fused: FusedConv, op: ConvOp, x: tf.Tensor4D): tf.Tensor {
  const [xp, pad] = padExplicit(x, op.pad);
  return fused({
    x: xp,
    filter: op.filter,
    strides: op.strides,
    pad,
    dilations: op.dilations ?? [1, 1],
    bias: op.bias,
    ...fusedActivation(op.activation),
  });
}

/** Runs one node's operation on the values of its inputs (fused kernels where tfjs has them). */
export function applyOp(op: NetOp, ins: tf.Tensor[]): tf.Tensor {
  const x = ins[0]!;
  switch (op.kind) {
    case 'conv2d':
      return convolve(tf.fused.conv2d as FusedConv, op, x as tf.Tensor4D);
    case 'depthwiseConv2d':
      return convolve(tf.fused.depthwiseConv2d as FusedConv, op, x as tf.Tensor4D);
    case 'scaleShift':
      return activate(tf.add(tf.mul(x, op.scale), op.shift), op.activation);
    case 'activation':
      return activate(x, op.activation);
    case 'maxPool':
      return tf.maxPool(x as tf.Tensor4D, op.size, op.strides, op.pad);
    case 'avgPool':
      return tf.avgPool(x as tf.Tensor4D, op.size, op.strides, op.pad);
    case 'globalAvgPool':
      return tf.mean(x, [1, 2]);
    case 'pad':
      return tf.pad(x, [[0, 0], op.paddings[0], op.paddings[1], [0, 0]]);
    case 'dense':
      return tf.fused.matMul({
        a: x as tf.Tensor2D,
        b: op.kernel,
        bias: op.bias,
        ...fusedActivation(op.activation),
      });
    case 'reshape':
      return tf.reshape(x, [x.shape[0]!, ...op.shape]);
    case 'reverseChannels':
      return tf.reverse(x, -1);
    case 'add':
      return ins.length === 1 ? x.clone() : tf.addN(ins);
    case 'concat':
      return tf.concat(ins, -1);
    case 'gatherOutputs':
      return tf.gather(x, tf.tensor1d(op.indices, 'int32'), 1);
  }
}

/** Logits of a net for pixels x [N, H, W, C]. */
export function runNet(net: Net, x: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const values = forwardValues(net, x, /* keepAll */ false);
    return values[net.output] as tf.Tensor2D;
  });
}

/**
 * All node values of one forward pass (values[0] = x). With keepAll=false, a value is disposed as soon
 * as its last consumer has run (call inside tf.tidy); with keepAll=true every value is kept for backward.
 */
export function forwardValues(net: Net, x: tf.Tensor4D, keepAll: boolean): (tf.Tensor | undefined)[] {
  const lastUse = new Array<number>(net.nodes.length).fill(-1);
  for (const node of net.nodes) for (const i of node.inputs) lastUse[i] = node.id;
  lastUse[net.output] = Infinity;
  const values: (tf.Tensor | undefined)[] = [x];
  for (const node of net.nodes) {
    if (node.id === 0) continue;
    const ins = node.inputs.map((i) => values[i]!);
    values[node.id] = applyOp(node.op!, ins);
    if (!keepAll) {
      for (const i of new Set(node.inputs)) {
        if (i !== 0 && lastUse[i] === node.id) {
          values[i]!.dispose();
          values[i] = undefined;
        }
      }
    }
  }
  return values;
}
