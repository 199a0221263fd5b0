import * as tf from '@tensorflow/tfjs';
import { activationGrad } from '../../tensor/activation_grad.js';
import { conv2dInputGrad } from '../../tensor/conv2d_input_grad.js';
import { depthwiseConv2dInputGrad } from '../../tensor/depthwise_conv2d_input_grad.js';
import { gatherOutputsGrad } from '../../tensor/gather_outputs_grad.js';
import { avgPoolInputGrad, globalAvgPoolInputGrad, maxPoolInputGrad } from '../../tensor/pool_grad.js';
import type { Net, NetOp } from './ir.js';

/**
 * Reverse-mode input gradients through one recorded forward pass (values from forwardValues(net, x, true)).
 *
 * `upstream` is [N * k, K]: k upstream gradients per image, row i * k + j belonging to image i.
 * Returns ∂/∂x of Σ upstream ⊙ logits, per row: [N * k, H, W, C]. Computes no filter or bias gradients.
 *
 * How: nodes are visited in reverse topological order; each op's input gradient comes from a small
 * function in src/tensor/ (one per op). Every gradient has N·k rows; forward values an op's gradient
 * needs (activation outputs, max-pool inputs) have N rows and are broadcast over the k rows of each
 * image (masks) or repeated (max-pool). Gradients of nodes with several consumers are summed. Each
 * node's gradient is freed as soon as it has been propagated, so peak memory stays near two layers
 * of N·k gradients plus the recorded forward values. Does not dispose `values` or `upstream`.
 */
export function backwardNet(
  net: Net,
  values: (tf.Tensor | undefined)[],
  upstream: tf.Tensor2D,
  k: number,
): tf.Tensor4D {
  const x = values[0];
  if (!x) throw new Error('backwardNet: values[0] (the input) is missing');
  const n = x.shape[0]!;
  if (!Number.isInteger(k) || k < 1) throw new Error(`backwardNet: k must be a positive integer, got ${k}`);
  const out = values[net.output];
  if (!out) throw new Error('backwardNet: the output value is missing (record the forward with keepAll)');
  if (upstream.shape[0] !== n * k || upstream.shape[1] !== out.shape[1]) {
    throw new Error(`backwardNet: upstream ${upstream.shape} does not match N·k = ${n * k} rows of ${out.shape[1]} logits`);
  }

  const grads: (tf.Tensor | undefined)[] = new Array(net.nodes.length).fill(undefined);
  const accumulate = (id: number, g: tf.Tensor): void => {
    const prev = grads[id];
    if (prev === undefined) {
      grads[id] = g;
    } else {
      grads[id] = tf.add(prev, g);
      prev.dispose();
      g.dispose();
    }
  };

  try {
    grads[net.output] = upstream.clone();
    for (let id = net.output; id >= 1; id--) {
      const g = grads[id];
      if (g === undefined) continue;
      const node = net.nodes[id]!;
      const ins = node.inputs.map((i) => {
        const v = values[i];
        if (!v) throw new Error(`backwardNet: value of node ${i} (${net.nodes[i]!.name}) was not recorded`);
        return v;
      });
      const y = values[id];
      if (!y) throw new Error(`backwardNet: value of node ${id} (${node.name}) was not recorded`);
      const t0 = profiler ? performance.now() : 0;
      const inGrads = tf.tidy(() => opInputGrads(node.op!, g, ins, y, k));
      if (profiler) profiler(node.name, node.op!.kind, performance.now() - t0);
      g.dispose();
      grads[id] = undefined;
      node.inputs.forEach((i, j) => accumulate(i, inGrads[j]!));
    }
    const g0 = grads[0];
    grads[0] = undefined;
    if (g0 === undefined) {
      // the output does not depend on the input
      return tf.zeros([n * k, x.shape[1]!, x.shape[2]!, x.shape[3]!]);
    }
    return g0 as tf.Tensor4D;
  } finally {
    for (const g of grads) g?.dispose();
  }
}

const uniformCache = new WeakMap<tf.Tensor, number | null>();

/**
 * The common value of a small per-channel vector when all entries are equal (preprocessing such as
 * p/127.5 − 1), else null: a scalar product is ~20× faster on wasm than a broadcast over 3 channels.
 */
function uniformValue(t: tf.Tensor1D): number | null {
  let v = uniformCache.get(t);
  if (v === undefined) {
    const a = t.dataSync();
    v = a.length > 0 && a.every((e) => e === a[0]) ? a[0]! : null;
    uniformCache.set(t, v);
  }
  return v;
}

type Profiler = (name: string, kind: string, ms: number) => void;
let profiler: Profiler | undefined;

/**
 * Calls `p` after each op's gradient with its wall time (benchmarks; meaningful on synchronous
 * backends such as wasm and cpu). Pass undefined to stop.
 */
export function setBackwardProfiler(p: Profiler | undefined): void {
  profiler = p;
}

/** Gradients with respect to each input of one op, given dy (N·k rows), its inputs and its output (N rows). */
function opInputGrads(op: NetOp, dy: tf.Tensor, ins: tf.Tensor[], y: tf.Tensor, k: number): tf.Tensor[] {
  const x = ins[0]!;
  switch (op.kind) {
    case 'conv2d': {
      const d = activationGrad(dy, y, op.activation, k) as tf.Tensor4D;
      return [conv2dInputGrad(d, op.filter, x.shape, op.strides, op.pad, op.dilations ?? [1, 1])];
    }
    case 'depthwiseConv2d': {
      const d = activationGrad(dy, y, op.activation, k) as tf.Tensor4D;
      return [depthwiseConv2dInputGrad(d, op.filter, x.shape, op.strides, op.pad, op.dilations ?? [1, 1])];
    }
    case 'scaleShift': {
      const d = activationGrad(dy, y, op.activation, k);
      return [tf.mul(d, uniformValue(op.scale) ?? op.scale)];
    }
    case 'activation':
      return [activationGrad(dy, y, op.activation, k)];
    case 'maxPool':
      return [maxPoolInputGrad(dy as tf.Tensor4D, x as tf.Tensor4D, y as tf.Tensor4D, k, op.size, op.strides, op.pad)];
    case 'avgPool':
      return [avgPoolInputGrad(dy as tf.Tensor4D, x.shape, op.size, op.strides, op.pad)];
    case 'globalAvgPool':
      return [globalAvgPoolInputGrad(dy as tf.Tensor2D, x.shape[1]!, x.shape[2]!)];
    case 'pad': {
      const [, h, w, c] = x.shape as [number, number, number, number];
      return [tf.slice(dy, [0, op.paddings[0][0], op.paddings[1][0], 0], [dy.shape[0]!, h, w, c])];
    }
    case 'dense': {
      const d = activationGrad(dy, y, op.activation, k) as tf.Tensor2D;
      return [tf.matMul(d, op.kernel, false, true)];
    }
    case 'reshape':
      return [tf.reshape(dy, [dy.shape[0]!, ...x.shape.slice(1)])];
    case 'reverseChannels':
      return [tf.reverse(dy, -1)];
    case 'add':
      return ins.map(() => dy.clone());
    case 'concat': {
      const sizes = ins.map((t) => t.shape[t.rank - 1]!);
      return tf.split(dy, sizes, -1);
    }
    case 'gatherOutputs':
      return [gatherOutputsGrad(dy as tf.Tensor2D, op.indices, x.shape[1]!)];
  }
}
