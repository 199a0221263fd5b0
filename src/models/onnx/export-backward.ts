import type { Activation, NetNode } from '../net/ir.js';
import { convInput, type ExportContext } from './export-context.js';
import { emitReshape } from './export-forward.js';
import { channelAxis, windowOf, type Shape, type Window } from './export-geometry.js';
import { convWeights, depthwiseWeights, values } from './export-weights.js';
import { BOOL_TO_FLOAT } from './graph-builder.js';

/**
 * Input gradients as ONNX nodes, case for case like net/backward.ts: only ∂/∂input, no weight
 * gradients. A graph with k upstream rows per image runs k reverse chains of N rows each through the
 * one forward; the chains share the forward's activation masks and max-pool indices. At batch 1 it may run one
 * chain of k rows instead (ExportContext.rows = k), whose Muls broadcast the one-row masks.
 *
 * What makes it fast on ONNX Runtime (docs/engines.md): paddings are Conv's own asymmetric `pads` (no
 * Pad, no Slice); a stride-1 input gradient is a Conv with the flipped, in/out-swapped filter (a 1×1
 * conv's is a 1×1 Conv with the transposed weights), a strided one a ConvTranspose on the forward
 * weights; and nothing between two convolutions leaves ORT's blocked NCHWc layout: the masks are
 * computed once, from the forward output, by 1×1 depthwise Convs with a fused Relu or Tanh (see maskOf),
 * and applied by a Mul of two equally shaped NCHWc tensors. (One chain of k·N rows would need the N-row masks
 * broadcast over k, i.e. a Reshape or Expand and two layout reorders per layer: 2–3× slower, measured.)
 */

export interface BackwardState {
  /** activation masks (float 0/1, or 1/α for leaky ReLU) per node, N rows */
  readonly masks: (string | undefined)[];
}

/** A 1×1 depthwise Conv w·y + b per channel (optionally followed by an activation ORT fuses into it). */
function depthwise1x1(ctx: ExportContext, y: string, channels: number, w: number, b: number | undefined): string {
  const { g } = ctx;
  const args = [y, g.floats(new Float32Array(channels).fill(w), [channels, 1, 1, 1], 'mw')];
  if (b !== undefined) args.push(g.floats(new Float32Array(channels).fill(b), [channels], 'mb'));
  return g.op1('Conv', args, { kernel_shape: [1, 1], group: channels }, 'maskconv');
}

/** 2^60: tanh(2^60·y) is 1 (to float precision) for every y > 8e-18 and exactly 0 at y = 0; relu(1 − 2^60·y) is 0 for y ≥ 2^-60. */
const STEEP = 2 ** 60;
/** 2^21 = 1 / ulp(6): 2^21·y is an integer for y in [4, 8), so relu(1 − 2^21·(6 − y)) is exactly 1 at y = 6 and 0 below. */
const STEEP6 = 2 ** 21;

/**
 * act'(y) from the activation's output y: relu y > 0; relu6 0 < y < 6; leaky y > 0 ? 1 : α (as
 * src/tensor/activation_grad.ts). For images they are written as 1×1 depthwise Convs with a fused Relu
 * or Tanh, which stay in NCHWc (comparisons, Cast and Where would not):
 *  - relu: 1 − r0 with r0 = relu(1 − 2^60·y) (1 at y = 0, 0 for y ≥ 2^-60);
 *  - relu6: 1 − r0 − r6 with r6 = relu(1 − 2^21·(6 − y)), exactly 1 at y = 6 (where relu6 clipped) and 0
 *    for every float below 6 (the scale is a power of two and the sums are integers below 2^24: exact);
 *  - leaky: from the sign s = tanh(2^60·y) ∈ {−1, 1}: (1 + α)/2 + s·(1 − α)/2 (y = 0 exactly, a
 *    measure-zero case, gives the mean).
 * Dense outputs use comparisons (tiny).
 */
function maskOf(ctx: ExportContext, st: BackwardState, id: number, a: Exclude<Activation, 'linear'>): string {
  const cached = st.masks[id];
  if (cached) return cached;
  const { g } = ctx;
  const y = ctx.values[id]!;
  const shape = ctx.shapes[id]!;
  let m: string;
  if (shape.length === 3 && ctx.maskOps === 'nchwc') {
    const c = shape[2]!;
    if (a === 'relu' || a === 'relu6') {
      const r0 = g.op1('Relu', [depthwise1x1(ctx, y, c, -STEEP, 1)], {}, 'atzero');
      const r = a === 'relu' ? r0 : g.op1('Sum', [r0, g.op1('Relu', [depthwise1x1(ctx, y, c, STEEP6, 1 - 6 * STEEP6)], {}, 'atsix')], {}, 'kinks');
      m = depthwise1x1(ctx, r, c, -1, 1);
    } else {
      m = depthwise1x1(ctx, g.op1('Tanh', [depthwise1x1(ctx, y, c, STEEP, undefined)], {}, 'sign'), c, (1 - a.leakyAlpha) / 2, (1 + a.leakyAlpha) / 2);
    }
  } else {
    const pos = g.op1('Greater', [y, g.scalar(0)]);
    if (a === 'relu') m = g.op1('Cast', [pos], BOOL_TO_FLOAT, 'mask');
    else if (a === 'relu6') m = g.op1('Cast', [g.op1('And', [pos, g.op1('Less', [y, g.scalar(6)])])], BOOL_TO_FLOAT, 'mask');
    else m = g.op1('Where', [pos, g.scalar(1), g.scalar(a.leakyAlpha)], {}, 'mask');
  }
  st.masks[id] = m;
  return m;
}

/** dy ⊙ act'(y). */
function applyActivation(ctx: ExportContext, st: BackwardState, dy: string, id: number, a: Activation): string {
  if (a === 'linear') return dy;
  if (a !== 'relu' && a !== 'relu6' && a.leakyAlpha < 0) throw new Error('leaky ReLU with a negative slope cannot be differentiated from its output');
  return ctx.g.op1('Mul', [dy, maskOf(ctx, st, id, a)], {}, 'dmask');
}

/**
 * ConvTranspose over `w` (the forward window) producing exactly [inH, inW]: `output_padding` adds the
 * rows a strided forward never read; a negative one means extra padding is cropped at the bottom/right.
 */
function convTranspose(ctx: ExportContext, dy: string, W: string, w: Window, group: number): string {
  const [pt, pl, pb, pr] = w.pads;
  const full = (o: number, s: number, k: number, d: number) => (o - 1) * s + (k - 1) * d + 1;
  let oh = w.inH - (full(w.outH, w.strides[0], w.kh, w.dilations[0]) - pt - pb);
  let ow = w.inW - (full(w.outW, w.strides[1], w.kw, w.dilations[1]) - pl - pr);
  const pads = [pt, pl, pb - Math.min(oh, 0), pr - Math.min(ow, 0)];
  oh = Math.max(oh, 0);
  ow = Math.max(ow, 0);
  return ctx.g.op1('ConvTranspose', [dy, W], {
    kernel_shape: [w.kh, w.kw],
    strides: w.strides,
    dilations: w.dilations,
    pads,
    output_padding: [oh, ow],
    group,
  });
}

/** Stride-1 input gradient as a Conv with flipped weights: pads (k − 1)·d − p before, H − Ho + p after. */
function flippedConvPads(w: Window): number[] | undefined {
  const [pt, pl] = w.pads;
  const p = [(w.kh - 1) * w.dilations[0] - pt, (w.kw - 1) * w.dilations[1] - pl, w.inH - w.outH + pt, w.inW - w.outW + pl];
  return p.every((v) => v >= 0) ? p : undefined;
}

/** Gradients with respect to each input of one op, given dy (ctx.rows rows, stored layout). */
export function emitBackwardOp(ctx: ExportContext, st: BackwardState, node: NetNode, dy: string): { input: number; grad: string }[] {
  const { g, shapes, rows } = ctx;
  const op = node.op!;
  const xs: Shape = shapes[node.inputs[0]!]!;
  const to = (grad: string) => [{ input: node.inputs[0]!, grad }];
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d': {
      const d = applyActivation(ctx, st, dy, node.id, op.activation);
      const { input, w } = convInput(ctx, node);
      const depthwise = op.kind === 'depthwiseConv2d';
      const group = depthwise ? op.filter.shape[2] : 1;
      const strided = w.strides[0] !== 1 || w.strides[1] !== 1;
      const pads = !strided && ctx.stride1Grad === 'conv' ? flippedConvPads(w) : undefined;
      if (!pads) return [{ input, grad: convTranspose(ctx, d, ctx.weights[node.id]!, w, group) }];
      const wt = depthwise ? depthwiseWeights(op.filter, true) : convWeights(op.filter, true);
      const grad = g.op1('Conv', [d, g.floats(wt.data, wt.dims, 'Wgrad')], {
        kernel_shape: [w.kh, w.kw],
        strides: [1, 1],
        dilations: w.dilations,
        pads,
        group,
      });
      return [{ input, grad }];
    }
    case 'scaleShift': {
      const d = applyActivation(ctx, st, dy, node.id, op.activation);
      const s = values(op.scale);
      const scale = s.every((v) => v === s[0]) ? g.scalar(s[0]!) : g.floats(s, xs.length === 3 ? [1, s.length, 1, 1] : [s.length], 'scale');
      return to(g.op1('Mul', [d, scale]));
    }
    case 'activation':
      return to(applyActivation(ctx, st, dy, node.id, op.activation));
    case 'maxPool':
      return to(maxPoolGrad(ctx, node, dy));
    case 'avgPool': {
      const w = windowOf(xs[0]!, xs[1]!, op.size[0], op.size[1], op.strides, [1, 1], op.pad);
      const c = xs[2]!;
      const ones = g.floats(new Float32Array(c * w.kh * w.kw).fill(1), [c, 1, w.kh, w.kw], 'ones');
      return to(convTranspose(ctx, g.op1('Mul', [dy, reciprocalCounts(ctx, w)]), ones, w, c));
    }
    case 'globalAvgPool': {
      const [h, w, c] = xs as [number, number, number];
      const d = g.reshape(g.op1('Mul', [dy, g.scalar(1 / (h * w))]), [rows, c, 1, 1]);
      return to(g.op1('Expand', [d, g.ints([rows, c, h, w])]));
    }
    case 'pad': {
      // a folded pad gets no gradient: its consumers send theirs to its input (convInput)
      const [[t], [l]] = op.paddings;
      return to(g.op1('Slice', [dy, g.ints([t, l]), g.ints([t + xs[0]!, l + xs[1]!]), g.ints([2, 3])]));
    }
    case 'dense': {
      const d = applyActivation(ctx, st, dy, node.id, op.activation);
      return to(g.op1('Gemm', [d, ctx.weights[node.id]!], { transB: 1 }));
    }
    case 'reshape':
      return to(emitReshape(ctx, dy, op.shape, xs, rows));
    case 'reverseChannels': {
      const c = xs[xs.length - 1]!;
      return to(g.op1('Gather', [dy, g.ints(Array.from({ length: c }, (_, i) => c - 1 - i))], { axis: channelAxis(xs) }));
    }
    case 'add':
      return node.inputs.map((input) => ({ input, grad: dy }));
    case 'concat': {
      const sizes = node.inputs.map((i) => shapes[i]![shapes[i]!.length - 1]!);
      const parts = g.op('Split', [dy, g.ints(sizes)], { axis: channelAxis(xs) }, 'split', sizes.length);
      return node.inputs.map((input, j) => ({ input, grad: parts[j]! }));
    }
    case 'gatherOutputs': {
      // dx = dy · S with S[j, indices[j]] = 1: exact (sums of one product each, duplicates add up)
      const kin = xs[0]!;
      const S = new Float32Array(op.indices.length * kin);
      op.indices.forEach((i, j) => (S[j * kin + i] += 1));
      return to(g.op1('MatMul', [dy, g.floats(S, [op.indices.length, kin], 'select')]));
    }
  }
}

/** 1 / (number of input pixels in each window), as AveragePool with count_include_pad = 0 divides. */
function reciprocalCounts(ctx: ExportContext, w: Window): string {
  const inside = (o: number, s: number, k: number, p: number, size: number) => {
    const a = o * s - p;
    return Math.min(a + k, size) - Math.max(a, 0);
  };
  const r = new Float32Array(w.outH * w.outW);
  for (let i = 0; i < w.outH; i++) {
    for (let j = 0; j < w.outW; j++) {
      r[i * w.outW + j] = 1 / (inside(i, w.strides[0], w.kh, w.pads[0], w.inH) * inside(j, w.strides[1], w.kw, w.pads[1], w.inW));
    }
  }
  return ctx.g.floats(r, [1, 1, w.outH, w.outW], 'rcount');
}

/**
 * Max pooling routes each window's gradient to its first maximum (row-major), which is what MaxPool's
 * argmax output holds (as TF's MaxPoolGrad does). The indices count over the whole batch; minus each
 * image's offset they index its own C·H·W, and a ScatterElements (reduction add: overlapping windows
 * may share a maximum) writes the gradient.
 */
function maxPoolGrad(ctx: ExportContext, node: NetNode, dy: string): string {
  const { g, n, shapes } = ctx;
  if (ctx.rows !== n) throw new Error('a max pool gradient needs one chain per upstream row');
  const [h, w, c] = shapes[node.inputs[0]!] as [number, number, number];
  const [ho, wo] = shapes[node.id] as [number, number, number];
  const rows = n;
  const offsets = g.ints(Array.from({ length: n }, (_, i) => i * c * h * w), [n, 1, 1, 1]);
  const idx = g.reshape(g.op1('Sub', [ctx.maxPoolIndices[node.id]!, offsets]), [n, c * ho * wo]);
  const zeros = g.op1('ConstantOfShape', [g.ints([rows, c * h * w])], {}, 'zeros');
  const dx = g.op1('ScatterElements', [zeros, idx, g.reshape(dy, [rows, c * ho * wo])], { axis: 1, reduction: 'add' });
  return g.reshape(dx, [rows, c, h, w]);
}
