import type { Activation, NetNode } from '../net/ir.js';
import { convInput, type ExportContext } from './export-context.js';
import { channelAxis, flatIsLayoutFree, storedDims, windowOf } from './export-geometry.js';
import { convWeights, depthwiseWeights, values } from './export-weights.js';

/**
 * The forward pass of a Net as ONNX nodes, case for case like net/forward.ts. Rank-4 values are NCHW
 * (the graph transposes the NHWC pixels once, at its input). Activations follow their conv/dense as
 * separate Relu/Clip/LeakyRelu nodes, which ONNX Runtime fuses into the convolution.
 */

export function emitActivation(ctx: ExportContext, x: string, a: Activation): string {
  const { g } = ctx;
  if (a === 'linear') return x;
  if (a === 'relu') return g.op1('Relu', [x]);
  if (a === 'relu6') return g.op1('Clip', [x, g.scalar(0), g.scalar(6)], {}, 'relu6');
  return g.op1('LeakyRelu', [x], { alpha: { float: a.leakyAlpha } });
}

/** A per-channel vector broadcast along the stored channel axis. */
export function channelVector(ctx: ExportContext, v: Float32Array, shape: number[]): string {
  const dims = shape.length === 3 ? [1, v.length, 1, 1] : [v.length];
  return ctx.g.floats(v, dims, 'vec');
}

export function emitForwardOp(ctx: ExportContext, node: NetNode): string {
  const { g, shapes, n } = ctx;
  const op = node.op!;
  const ins = node.inputs.map((i) => ctx.values[i]!);
  const x = ins[0]!;
  const xs = shapes[node.inputs[0]!]!;
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d': {
      const { input, w } = convInput(ctx, node);
      const depthwise = op.kind === 'depthwiseConv2d';
      const wt = depthwise ? depthwiseWeights(op.filter, false) : convWeights(op.filter, false);
      const W = g.floats(wt.data, wt.dims, 'W');
      ctx.weights[node.id] = W;
      const args = [ctx.values[input]!, W];
      if (op.bias) args.push(g.floats(values(op.bias), [op.bias.shape[0]], 'B'));
      const y = g.op1('Conv', args, {
        kernel_shape: [w.kh, w.kw],
        strides: w.strides,
        dilations: w.dilations,
        pads: w.pads,
        group: depthwise ? op.filter.shape[2] : 1,
      });
      return emitActivation(ctx, y, op.activation);
    }
    case 'scaleShift': {
      const y = g.op1('Add', [g.op1('Mul', [x, channelVector(ctx, values(op.scale), xs)]), channelVector(ctx, values(op.shift), xs)]);
      return emitActivation(ctx, y, op.activation);
    }
    case 'activation':
      return emitActivation(ctx, x, op.activation);
    case 'maxPool':
    case 'avgPool': {
      const w = windowOf(xs[0]!, xs[1]!, op.size[0], op.size[1], op.strides, [1, 1], op.pad);
      const attrs = { kernel_shape: [...op.size], strides: [...op.strides], pads: w.pads };
      if (op.kind === 'avgPool') return g.op1('AveragePool', [x], { ...attrs, count_include_pad: 0 });
      if (!ctx.withGrad) return g.op1('MaxPool', [x], attrs);
      const [y, indices] = g.op('MaxPool', [x], attrs, 'MaxPool', 2);
      ctx.maxPoolIndices[node.id] = indices;
      return y!;
    }
    case 'globalAvgPool':
      return g.reshape(g.op1('GlobalAveragePool', [x]), [n, xs[2]!]);
    case 'pad': {
      if (ctx.foldedPad[node.id]) return x; // its consumers pad (see foldablePads)
      const [[t, b], [l, r]] = op.paddings;
      return g.op1('Pad', [x, g.ints([0, 0, t, l, 0, 0, b, r])]);
    }
    case 'dense': {
      const K = g.floats(values(op.kernel), [...op.kernel.shape], 'K');
      ctx.weights[node.id] = K;
      const args = [x, K];
      if (op.bias) args.push(g.floats(values(op.bias), [op.bias.shape[0]], 'B'));
      return emitActivation(ctx, g.op1('Gemm', args), op.activation);
    }
    case 'reshape':
      return emitReshape(ctx, x, xs, op.shape, n);
    case 'reverseChannels': {
      const c = xs[xs.length - 1]!;
      const idx = g.ints(Array.from({ length: c }, (_, i) => c - 1 - i));
      return g.op1('Gather', [x, idx], { axis: channelAxis(xs) });
    }
    case 'add':
      return ins.length === 1 ? x : g.op1('Sum', ins);
    case 'concat':
      return g.op1('Concat', ins, { axis: channelAxis(xs) });
    case 'gatherOutputs':
      return g.op1('Gather', [x, g.ints(Array.from(op.indices))], { axis: 1 });
  }
}

/**
 * The IR's reshape is in NHWC element order. Stored NCHW values are transposed to NHWC around it,
 * unless their spatial size is 1×1 (then both orders agree: the common globalAvgPool → reshape case).
 * Used by the backward too, with the shapes swapped.
 */
export function emitReshape(ctx: ExportContext, x: string, from: number[], to: number[], rows: number): string {
  const { g } = ctx;
  let v = x;
  if (!flatIsLayoutFree(from)) v = g.transpose(v, [0, 2, 3, 1]);
  if (!flatIsLayoutFree(to)) return g.transpose(g.reshape(v, [rows, ...to]), [0, 3, 1, 2]);
  return g.reshape(v, storedDims(to, rows));
}
