import type { Net, NetOp, Padding } from '../net/ir.js';

/**
 * Shapes and paddings of a Net as the ONNX exporter needs them.
 *
 * Shapes are the IR's (NHWC, without the batch axis). Inside an exported graph every rank-4 value is
 * stored NCHW (ONNX Runtime's convolutions, and its blocked NCHWc layout, want channels second); other
 * values are stored as they are. Paddings are ONNX's [top, left, bottom, right], computed as TensorFlow
 * defines 'same' (total = max((out − 1)·s + (k − 1)·d + 1 − in, 0), the odd pixel at the bottom/right).
 */

export type Shape = number[];

/** [top, left, bottom, right] */
export type Pads4 = [number, number, number, number];

/** One spatial axis: TF's leading pad and output size, and the trailing pad that ONNX needs explicitly. */
function axis(inSize: number, k: number, s: number, d: number, pad: 'same' | 'valid' | [number, number]): { before: number; after: number; out: number } {
  const eff = (k - 1) * d + 1;
  if (pad === 'valid') return { before: 0, after: 0, out: Math.floor((inSize - eff) / s) + 1 };
  if (pad === 'same') {
    const out = Math.ceil(inSize / s);
    const total = Math.max((out - 1) * s + eff - inSize, 0);
    const before = Math.floor(total / 2);
    return { before, after: total - before, out };
  }
  return { before: pad[0], after: pad[1], out: Math.floor((inSize + pad[0] + pad[1] - eff) / s) + 1 };
}

export interface Window {
  /** spatial input size (before any folded pad) */
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  strides: [number, number];
  dilations: [number, number];
  pads: Pads4;
}

/** Geometry of a conv/pool window over an input of [H, W], plus extra zero padding folded in from a pad node. */
export function windowOf(
  inH: number,
  inW: number,
  kh: number,
  kw: number,
  strides: [number, number],
  dilations: [number, number],
  pad: Padding,
  folded: [[number, number], [number, number]] = [
    [0, 0],
    [0, 0],
  ],
): Window {
  const hp = inH + folded[0][0] + folded[0][1];
  const wp = inW + folded[1][0] + folded[1][1];
  const a = axis(hp, kh, strides[0], dilations[0], typeof pad === 'string' ? pad : pad[0]);
  const b = axis(wp, kw, strides[1], dilations[1], typeof pad === 'string' ? pad : pad[1]);
  return {
    inH,
    inW,
    outH: a.out,
    outW: b.out,
    kh,
    kw,
    strides,
    dilations,
    pads: [a.before + folded[0][0], b.before + folded[1][0], a.after + folded[0][1], b.after + folded[1][1]],
  };
}

/** Output shape (NHWC, no batch) of one op, given its input shapes. */
export function opShape(op: NetOp, ins: Shape[]): Shape {
  const x = ins[0]!;
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d': {
      const [kh, kw, c, m] = op.filter.shape;
      const w = windowOf(x[0]!, x[1]!, kh, kw, op.strides, op.dilations ?? [1, 1], op.pad);
      return [w.outH, w.outW, op.kind === 'conv2d' ? m : c * m];
    }
    case 'scaleShift':
    case 'activation':
    case 'reverseChannels':
    case 'add':
      return [...x];
    case 'maxPool':
    case 'avgPool': {
      const w = windowOf(x[0]!, x[1]!, op.size[0], op.size[1], op.strides, [1, 1], op.pad);
      return [w.outH, w.outW, x[2]!];
    }
    case 'globalAvgPool':
      return [x[2]!];
    case 'pad':
      return [x[0]! + op.paddings[0][0] + op.paddings[0][1], x[1]! + op.paddings[1][0] + op.paddings[1][1], x[2]!];
    case 'dense':
      return [op.kernel.shape[1]];
    case 'reshape':
      return [...op.shape];
    case 'concat':
      return [...x.slice(0, -1), ins.reduce((s, t) => s + t[t.length - 1]!, 0)];
    case 'gatherOutputs':
      return [op.indices.length];
  }
}

/** Every node's shape (NHWC, without the batch axis). */
export function netShapes(net: Net): Shape[] {
  const shapes: Shape[] = [[...net.inputShape]];
  for (const node of net.nodes) {
    if (node.id === 0) continue;
    shapes[node.id] = opShape(node.op!, node.inputs.map((i) => shapes[i]!));
  }
  return shapes;
}

/** Dims of a value as stored in the graph, with `rows` rows: rank 4 is NCHW. */
export function storedDims(shape: Shape, rows: number): number[] {
  if (shape.length === 3) return [rows, shape[2]!, shape[0]!, shape[1]!];
  return [rows, ...shape];
}

/** The stored axis of the IR's channel (last) axis. */
export function channelAxis(shape: Shape): number {
  return shape.length === 3 ? 1 : shape.length;
}

/** A rank-4 value whose spatial size is 1×1 has the same element order NHWC and NCHW. */
export function flatIsLayoutFree(shape: Shape): boolean {
  return shape.length !== 3 || shape[0]! * shape[1]! === 1;
}
