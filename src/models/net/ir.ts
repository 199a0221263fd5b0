import type * as tf from '@tensorflow/tfjs';
import type { Activation } from '../../tensor/activation.js';

/**
 * A small, explicit network representation that every model format is converted into
 * (TF.js layers, TF.js graph, TFLite). Why not run the formats' own executors?
 *  - the gradient engine (net/backward.ts) needs input gradients only, on the wasm backend, with k
 *    upstream gradients through one recorded forward pass; TF.js's tape cannot do either;
 *  - TFLite has no TF.js executor at all; its weights are dequantised into these float ops.
 *
 * Everything is NHWC float32. Node 0 is the input (pixels 0..255); preprocessing is part of the
 * net (a `scaleShift` node, optionally a `reverseChannels` node), so gradients are in pixel units.
 * A net's output is [N, numClasses] logits in the classifier's label order (use `gatherOutputs`
 * to drop a background class or reorder Darknet's classes).
 */

export type { Activation };

/** 'same'/'valid' as TF defines them, or explicit [[top, bottom], [left, right]] zero padding. */
export type Padding = 'same' | 'valid' | [[number, number], [number, number]];

/**
 * The operation of one node: a convolution, pooling, dense layer, activation, preprocessing or output selection,
 * with its weights.
 */
export type NetOp =
  /** filter [kh, kw, inC, outC] */
  | {
      kind: 'conv2d';
      filter: tf.Tensor4D;
      bias?: tf.Tensor1D;
      strides: [number, number];
      pad: Padding;
      dilations?: [number, number];
      activation: Activation;
    }
  /** filter [kh, kw, inC, multiplier] */
  | {
      kind: 'depthwiseConv2d';
      filter: tf.Tensor4D;
      bias?: tf.Tensor1D;
      strides: [number, number];
      pad: Padding;
      dilations?: [number, number];
      activation: Activation;
    }
  /** y = act(x * scale + shift), per channel (last axis): folded batch norm, preprocessing */
  | { kind: 'scaleShift'; scale: tf.Tensor1D; shift: tf.Tensor1D; activation: Activation }
  | { kind: 'activation'; activation: Activation }
  | { kind: 'maxPool'; size: [number, number]; strides: [number, number]; pad: 'same' | 'valid' }
  | { kind: 'avgPool'; size: [number, number]; strides: [number, number]; pad: 'same' | 'valid' }
  /** [N, H, W, C] → [N, C] */
  | { kind: 'globalAvgPool' }
  /** zero padding of H and W */
  | { kind: 'pad'; paddings: [[number, number], [number, number]] }
  /** kernel [in, out] on [N, in] */
  | { kind: 'dense'; kernel: tf.Tensor2D; bias?: tf.Tensor1D; activation: Activation }
  /** to [N, ...shape] (shape excludes the batch axis) */
  | { kind: 'reshape'; shape: number[] }
  /** RGB ↔ BGR (last axis reversed) */
  | { kind: 'reverseChannels' }
  /** elementwise sum of all inputs */
  | { kind: 'add' }
  /** concatenation of all inputs along the channel (last) axis */
  | { kind: 'concat' }
  /** [N, K] → [N, indices.length]: out[:, j] = in[:, indices[j]] */
  | { kind: 'gatherOutputs'; indices: Int32Array };

/** One node of a Net: its operation and the ids of the nodes that feed it. */
export interface NetNode {
  /** Index of this node in Net.nodes (node 0 is the input and has op undefined). */
  readonly id: number;
  readonly name: string;
  readonly op?: NetOp;
  /** Ids of the nodes feeding this one; all less than `id` (nodes are topologically sorted). */
  readonly inputs: number[];
}

/** A network as a topologically sorted list of nodes: pixels in at node 0, logits out at `output`. */
export interface Net {
  /** [H, W, C] */
  readonly inputShape: [number, number, number];
  readonly nodes: NetNode[];
  /** Id of the node whose value is the logits. */
  readonly output: number;
}

/** Builds a net node by node; keeps ids and topological order right. */
export class NetBuilder {
  private readonly nodes: NetNode[];

  constructor(readonly inputShape: [number, number, number]) {
    this.nodes = [{ id: 0, name: 'input', inputs: [] }];
  }

  get input(): number {
    return 0;
  }

  add(name: string, op: NetOp, inputs: number | number[]): number {
    const ins = Array.isArray(inputs) ? inputs : [inputs];
    const id = this.nodes.length;
    for (const i of ins) {
      if (i < 0 || i >= id) throw new Error(`node ${name}: input ${i} does not exist yet`);
    }
    this.nodes.push({ id, name, op, inputs: ins });
    return id;
  }

  build(output: number): Net {
    return { inputShape: this.inputShape, nodes: this.nodes, output };
  }
}

/** Frees every weight tensor a net holds. */
export function disposeNet(net: Net): void {
  for (const node of net.nodes) {
    const op = node.op as Record<string, unknown> | undefined;
    if (!op) continue;
    for (const value of Object.values(op)) {
      if (value && typeof (value as tf.Tensor).dispose === 'function') (value as tf.Tensor).dispose();
    }
  }
}
