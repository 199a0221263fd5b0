import * as tf from '@tensorflow/tfjs';
import type { Activation, Net, NetOp } from '../ir.js';

/**
 * A reference forward of a Net made of plain, unfused tfjs ops, whose stock tf.grad is the ground truth
 * the gradient engine (backward.ts) is checked against (used by *.test.ts and the benchmark).
 */

function refActivate(x: tf.Tensor, a: Activation): tf.Tensor {
  if (a === 'linear') return x;
  if (a === 'relu') return tf.relu(x);
  if (a === 'relu6') return tf.relu6(x);
  return tf.leakyRelu(x, a.leakyAlpha);
}

/** [kh, kw, a, b] → [(kh − 1)·dh + 1, (kw − 1)·dw + 1, a, b] with zeros between the taps. */
export function dilateFilter(f: tf.Tensor4D, dilations?: [number, number]): tf.Tensor4D {
  const [dh, dw] = dilations ?? [1, 1];
  if (dh === 1 && dw === 1) return f;
  const [kh, kw, a, b] = f.shape;
  const spread = tf.reshape(tf.pad(tf.reshape(f, [kh, 1, kw, 1, a, b]), [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0], [0, 0]]), [kh * dh, kw * dw, a, b]);
  return tf.slice(spread, [0, 0, 0, 0], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, a, b]) as tf.Tensor4D;
}

/** The same op as forward.ts's applyOp, from plain differentiable ops (no fused kernels). */
export function referenceOp(op: NetOp, ins: tf.Tensor[]): tf.Tensor {
  const x = ins[0]!;
  const padded = (pad: NetOp & { pad: unknown }): [tf.Tensor4D, 'same' | 'valid'] => {
    const p = pad.pad as 'same' | 'valid' | [[number, number], [number, number]];
    if (typeof p === 'string') return [x as tf.Tensor4D, p];
    return [tf.pad(x as tf.Tensor4D, [[0, 0], p[0], p[1], [0, 0]]), 'valid'];
  };
  switch (op.kind) {
    case 'conv2d': {
      const [xp, pad] = padded(op);
      // tfjs's stock conv gradients refuse dilations > 1: use the equivalent zero-dilated filter
      let y: tf.Tensor = tf.conv2d(xp, dilateFilter(op.filter, op.dilations), op.strides, pad);
      if (op.bias) y = tf.add(y, op.bias);
      return refActivate(y, op.activation);
    }
    case 'depthwiseConv2d': {
      const [xp, pad] = padded(op);
      let y: tf.Tensor = tf.depthwiseConv2d(xp, dilateFilter(op.filter, op.dilations), op.strides, pad);
      if (op.bias) y = tf.add(y, op.bias);
      return refActivate(y, op.activation);
    }
    case 'scaleShift':
      return refActivate(tf.add(tf.mul(x, op.scale), op.shift), op.activation);
    case 'activation':
      return refActivate(x, op.activation);
    case 'maxPool':
      return tf.maxPool(x as tf.Tensor4D, op.size, op.strides, op.pad);
    case 'avgPool':
      return tf.avgPool(x as tf.Tensor4D, op.size, op.strides, op.pad);
    case 'globalAvgPool':
      return tf.mean(x, [1, 2]);
    case 'pad':
      return tf.pad(x, [[0, 0], op.paddings[0], op.paddings[1], [0, 0]]);
    case 'dense': {
      let y: tf.Tensor = tf.matMul(x as tf.Tensor2D, op.kernel);
      if (op.bias) y = tf.add(y, op.bias);
      return refActivate(y, op.activation);
    }
    case 'reshape':
      return tf.reshape(x, [x.shape[0]!, ...op.shape]);
    case 'reverseChannels':
      return tf.reverse(x, -1);
    case 'add':
      return ins.reduce((a, b) => tf.add(a, b));
    case 'concat':
      return tf.concat(ins, -1);
    case 'gatherOutputs':
      return tf.gather(x, tf.tensor1d(op.indices, 'int32'), 1);
  }
}

export function referenceForward(net: Net, x: tf.Tensor4D): tf.Tensor2D {
  const values: tf.Tensor[] = [x];
  for (const node of net.nodes) {
    if (node.id === 0) continue;
    values[node.id] = referenceOp(node.op!, node.inputs.map((i) => values[i]!));
  }
  return values[net.output] as tf.Tensor2D;
}

/**
 * Ground truth for backwardNet: tfjs's stock reverse mode (tf.grad) through referenceForward, one
 * backward per upstream column j, on the current backend. upstream [N·k, K] → [N·k, H, W, C].
 */
export function referenceInputGrad(net: Net, x: tf.Tensor4D, upstream: tf.Tensor2D, k: number): tf.Tensor4D {
  return tf.tidy(() => {
    const n = x.shape[0];
    const K = upstream.shape[1];
    const u = tf.reshape(upstream, [n, k, K]);
    const perJ: tf.Tensor4D[] = [];
    for (let j = 0; j < k; j++) {
      const uj = tf.reshape(tf.slice(u, [0, j, 0], [n, 1, K]), [n, K]);
      const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(referenceForward(net, xx as tf.Tensor4D), uj)));
      perJ.push(g(x) as tf.Tensor4D);
    }
    const [, h, w, c] = x.shape;
    return tf.reshape(tf.stack(perJ, 1), [n * k, h, w, c]) as tf.Tensor4D;
  });
}
