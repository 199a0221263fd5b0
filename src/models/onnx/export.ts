import type { LogitObjective } from '../classifier.js';
import type { Net } from '../net/ir.js';
import { emitBackwardOp, type BackwardState } from './export-backward.js';
import { foldablePads, type ExportContext } from './export-context.js';
import { emitForwardOp } from './export-forward.js';
import { netShapes, storedDims } from './export-geometry.js';
import { emitLossGradient } from './export-loss.js';
import { BOOL_TO_FLOAT, OnnxGraph } from './graph-builder.js';

/**
 * A Net as ONNX graphs, for ONNX Runtime (src/node/ort-classifier.ts). Shapes are static: one graph per
 * batch size (ORT plans memory and picks kernels once per shape).
 *
 * - logits graph: `x` [N, H, W, C] pixels → `logits` [N, K].
 * - gradient graph (k upstream rows per image): `x`, and `upstream` [k·N, K] with CLASS-MAJOR rows
 *   (row j·N + i: the j-th upstream row of image i) → `logits` [N, K] and `grad`, ∂(Σ upstream ⊙ logits)/∂x
 *   per row: [N, H, W, C] for k = 1 (a vjp), [N, k, H, W, C] otherwise (a Jacobian when the rows are
 *   one-hot). One forward; k reverse chains of N rows that share its masks (at batch 1, one chain of k rows);
 *   no weight gradients.
 * - perturbation-gradient graph: one step of the gradient attacks, from x and v to Σ_i ∂J_i/∂v
 *   (exportPerturbationGradGraph, at the end of this file).
 */

export interface ExportOptions {
  /**
   * Input gradients of stride-1 convolutions: a Conv with the flipped filter (default) or a ConvTranspose
   * on the forward filter. The alternatives are kept for profiling (bench/profile-ort.ts).
   */
  stride1Grad?: 'conv' | 'convTranspose';
  /**
   * Activation masks of images: 1×1 depthwise Convs with a fused Relu/Tanh, which stay in ORT's NCHWc layout, or
   * Greater/Less/Cast comparisons. Default: comparisons for k = 1 (computed and used once, they cost
   * less than the extra Convs: 3.5 vs 3.9–4.3 ms/photo on mobilenet_v1_0.25, 1 thread) and for one chain of k rows
   * (batch 1: 19–24 vs 21–27 ms for k = 10 on 2 threads, mobilenet_v1_0.75 52 vs 63), NCHWc masks for k > 1
   * chains (shared by k chains: 20–24 vs 26–28 ms/photo for k = 10).
   */
  maskOps?: 'nchwc' | 'compare';
  /**
   * Also output every activation mask as `mask_<node id>` (N rows, stored layout) and every max pool's
   * argmax as `argmax_<node id>` (int64, flat NCHW indices over the batch): for tests.
   */
  exposeMasks?: boolean;
  /** gradient graphs with k > 1: one reverse chain of k rows instead of k chains (batch 1, no max pools; the default there) */
  singleChain?: boolean;
}

function context(net: Net, n: number, withGrad: boolean, opts: ExportOptions, name: string, k = 1, rows = n): ExportContext {
  return {
    g: new OnnxGraph(name),
    net,
    n,
    rows,
    shapes: netShapes(net),
    values: [],
    foldedPad: foldablePads(net),
    withGrad,
    maxPoolIndices: [],
    weights: [],
    stride1Grad: opts.stride1Grad ?? 'conv',
    maskOps: opts.maskOps ?? (k === 1 || rows !== n ? 'compare' : 'nchwc'),
  };
}

/** The forward from NHWC pixels `x` (default: the graph input `x`); outputs `logits` and returns their value. */
function emitForward(ctx: ExportContext, x?: string): string {
  const [h, w, c] = ctx.net.inputShape;
  ctx.values[0] = ctx.g.transpose(x ?? ctx.g.input('x', [ctx.n, h, w, c]), [0, 3, 1, 2]);
  for (const node of ctx.net.nodes) {
    if (node.id === 0 || node.id > ctx.net.output) continue;
    ctx.values[node.id] = emitForwardOp(ctx, node);
  }
  const k = ctx.shapes[ctx.net.output]!;
  if (k.length !== 1) throw new Error(`the net's output has shape [${k}], not [numClasses]`);
  ctx.g.output(ctx.values[ctx.net.output]!, 'logits', [ctx.n, k[0]!]);
  return ctx.values[ctx.net.output]!;
}

/** The reverse pass from upstream rows `u` [N, K] (after emitForward): ∂(Σ u ⊙ logits)/∂x as NHWC [N, H, W, C]. */
function emitReverse(ctx: ExportContext, st: BackwardState, u: string): string {
  const { g, net } = ctx;
  // reverse topological order; gradients of nodes with several consumers are summed
  const grads: string[][] = net.nodes.map(() => []);
  grads[net.output]!.push(u);
  for (let id = net.output; id >= 1; id--) {
    const parts = grads[id]!;
    if (parts.length === 0) continue;
    const dy = parts.length === 1 ? parts[0]! : g.op1('Sum', parts);
    for (const { input, grad } of emitBackwardOp(ctx, st, net.nodes[id]!, dy)) grads[input]!.push(grad);
  }
  const g0 = grads[0]!;
  if (g0.length === 0) throw new Error('the net output does not depend on its input');
  const dx = g0.length === 1 ? g0[0]! : g.op1('Sum', g0);
  return g.transpose(dx, [0, 2, 3, 1]); // NCHW → NHWC
}

/** The logits graph, serialised. */
export function exportLogitsGraph(net: Net, batch: number, opts: ExportOptions = {}): Uint8Array {
  const ctx = context(net, batch, false, opts, 'uap_logits');
  emitForward(ctx);
  return ctx.g.toBytes();
}

/**
 * The perturbed-logits graph (Classifier's PerturbedLogits): `x` [N, H, W, C] and `v` [H, W, C] → `logits` [N, K]
 * of clip(x + v) (or of x + v with `clip` false). The fooling rate's forward with the sum and the clip in the
 * graph: on the host, tfjs-wasm took ~27 ms for them per batch of 64 photos, about as long as ORT's forward.
 */
export function exportPerturbedLogitsGraph(net: Net, batch: number, clip: boolean, opts: ExportOptions = {}): Uint8Array {
  const ctx = context(net, batch, false, opts, `uap_perturbed_logits_${clip ? 'clip' : 'free'}`);
  const { g, n } = ctx;
  const [h, w, c] = net.inputShape;
  const sum = g.op1('Add', [g.input('x', [n, h, w, c]), g.input('v', [h, w, c])], {}, 'xv');
  emitForward(ctx, clip ? g.op1('Clip', [sum, g.scalar(0), g.scalar(255)], {}, 'clip') : sum);
  return ctx.g.toBytes();
}

/** The gradient graph with k upstream rows per image, serialised. */
export function exportGradGraph(net: Net, batch: number, k: number, opts: ExportOptions = {}): Uint8Array {
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
  // One chain of k rows at batch 1: the forward's one-row masks broadcast over the k rows in each Mul, and the
  // reverse pass has a tenth of the nodes (ORT's per-node cost dominates a one-photo Jacobian: 16–18 ms
  // against 20–22 for k = 10 chains, mobilenet_v1_0.25_224). Max pools scatter by the forward's indices,
  // one row each, so their nets keep the chains.
  const maxPools = net.nodes.some((nd) => nd.op?.kind === 'maxPool');
  const single = k > 1 && (opts.singleChain ?? (batch === 1 && !maxPools));
  if (single && (batch !== 1 || maxPools)) throw new Error(`one reverse chain of k rows needs batch 1 and a net without max pools (batch ${batch})`);
  const ctx = context(net, batch, true, opts, `uap_grad_k${k}`, k, single ? k * batch : batch);
  emitForward(ctx);
  const { g, n, shapes } = ctx;
  const K = shapes[net.output]![0]!;
  const [h, w, c] = net.inputShape;
  const st: BackwardState = { masks: [] };
  const upstream = g.input('upstream', [k * n, K]);
  let grad: string;
  if (single) grad = g.reshape(emitReverse(ctx, st, upstream), [n, k, h, w, c]);
  else {
    const rows = k === 1 ? [upstream] : g.op('Split', [upstream, g.ints(new Array<number>(k).fill(n))], { axis: 0 }, 'up', k);
    const chains = rows.map((u) => emitReverse(ctx, st, u));
    grad = k === 1 ? chains[0]! : g.op1('Concat', chains.map((x) => g.reshape(x, [n, 1, h, w, c])), { axis: 1 });
  }
  if (opts.exposeMasks) {
    st.masks.forEach((m, id) => m && g.output(m, `mask_${id}`, storedDims(shapes[id]!, n)));
    ctx.maxPoolIndices.forEach((m, id) => m && g.output(m, `argmax_${id}`, storedDims(shapes[id]!, n), 'int64'));
  }
  g.output(grad, 'grad', k === 1 ? [n, h, w, c] : [n, k, h, w, c]);
  return g.toBytes();
}

/** What a perturbation-gradient graph bakes in: the objective and whether x + v is clipped to 0..255. */
export type PerturbationObjective = LogitObjective & { readonly clip: boolean };

/**
 * The perturbation-gradient graph (Classifier's PerturbationGradient): `x` [N, H, W, C], `v` [H, W, C] and
 * `target` [N, K] (one-hot rows of each image's label or target) → `logits` [N, K] of clip(x + v) and
 * `grad` [H, W, C] = Σ_i ∂J_i/∂v, unscaled. One forward, the loss gradient (export-loss.ts), one reverse chain,
 * the clip's mask (1 on the closed interval [0, 255], as attacks/sgd-engine.ts's batchGradient) and the sum over
 * the batch, all in the graph: the host sends the batch and gets one image back.
 */
export function exportPerturbationGradGraph(net: Net, batch: number, objective: PerturbationObjective, opts: ExportOptions = {}): Uint8Array {
  const ctx = context(net, batch, true, opts, `uap_perturbation_grad_${objective.loss}`);
  const { g, n, shapes } = ctx;
  const K = shapes[net.output]![0]!;
  const [h, w, c] = net.inputShape;
  const sum = g.op1('Add', [g.input('x', [n, h, w, c]), g.input('v', [h, w, c])], {}, 'xv');
  const z = emitForward(ctx, objective.clip ? g.op1('Clip', [sum, g.scalar(0), g.scalar(255)], {}, 'clip') : sum);
  const u = emitLossGradient(g, z, g.input('target', [n, K]), K, objective);
  let dx = emitReverse(ctx, { masks: [] }, u);
  if (objective.clip) {
    const inside = g.op1('And', [g.op1('GreaterOrEqual', [sum, g.scalar(0)]), g.op1('LessOrEqual', [sum, g.scalar(255)])], {}, 'inside');
    dx = g.op1('Mul', [dx, g.op1('Cast', [inside], BOOL_TO_FLOAT, 'clipmask')]);
  }
  g.output(g.op1('ReduceSum', [dx, g.ints([0])], { keepdims: 0 }, 'batchsum'), 'grad', [h, w, c]);
  return g.toBytes();
}
