import type { Net, NetNode } from '../net/ir.js';
import { windowOf, type Shape, type Window } from './export-geometry.js';
import type { OnnxGraph } from './graph-builder.js';

/** What the forward and backward emitters share while one graph is written. */
export interface ExportContext {
  readonly g: OnnxGraph;
  readonly net: Net;
  /** images in the batch */
  readonly n: number;
  /** rows of each reverse chain: n, or k·n when the k upstream rows of one image run as one chain (see exportGradGraph) */
  readonly rows: number;
  /** NHWC shapes without the batch axis, per node */
  readonly shapes: Shape[];
  /** the graph value holding each node's forward output (stored layout); a folded pad holds its input's */
  readonly values: string[];
  /** pad nodes folded into the `pads` of every consumer (all of them convolutions) */
  readonly foldedPad: boolean[];
  /** whether the graph has a backward part (max pools then also emit their argmax indices) */
  readonly withGrad: boolean;
  /** MaxPool argmax indices per node (grad graphs) */
  readonly maxPoolIndices: (string | undefined)[];
  /** forward weights per conv/dense node, reused by ConvTranspose and Gemm in the backward */
  readonly weights: (string | undefined)[];
  /** how stride-1 conv input gradients are written */
  readonly stride1Grad: 'conv' | 'convTranspose';
  /** how activation masks of images are computed */
  readonly maskOps: 'nchwc' | 'compare';
}

/**
 * Zero pads are folded into convolutions (Conv's own `pads`, asymmetric allowed) rather than written as
 * Pad nodes: a Pad between two convolutions costs a full copy and forces ONNX Runtime out of its
 * blocked NCHWc layout. A pad node is folded when every consumer is a (depthwise) convolution.
 */
export function foldablePads(net: Net): boolean[] {
  const consumers: NetNode[][] = net.nodes.map(() => []);
  for (const node of net.nodes) for (const i of node.inputs) consumers[i]!.push(node);
  return net.nodes.map(
    (node) =>
      node.op?.kind === 'pad' &&
      node.id !== net.output &&
      consumers[node.id]!.length > 0 &&
      consumers[node.id]!.every((c) => c.op?.kind === 'conv2d' || c.op?.kind === 'depthwiseConv2d'),
  );
}

/** The input a convolution really reads (through a folded pad) and its window geometry. */
export function convInput(ctx: ExportContext, node: NetNode): { input: number; w: Window } {
  const op = node.op as Extract<NonNullable<NetNode['op']>, { kind: 'conv2d' | 'depthwiseConv2d' }>;
  let input = node.inputs[0]!;
  let folded: [[number, number], [number, number]] | undefined;
  const inNode = ctx.net.nodes[input]!;
  if (ctx.foldedPad[input] && inNode.op?.kind === 'pad') {
    folded = inNode.op.paddings;
    input = inNode.inputs[0]!;
  }
  const s = ctx.shapes[input]!;
  const [kh, kw] = op.filter.shape;
  return { input, w: windowOf(s[0]!, s[1]!, kh, kw, op.strides, op.dilations ?? [1, 1], op.pad, folded) };
}
