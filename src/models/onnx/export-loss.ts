import { ROW_LENGTH_FLOOR, type LogitObjective } from '../classifier.js';
import { BOOL_TO_FLOAT, type OnnxGraph } from './graph-builder.js';

/**
 * ∂J_i/∂z_i of the gradient attacks' objective, as ONNX nodes, row for row like attacks/sgd-loss.ts's
 * lossGradient (there divided by the minibatch size; here not: the caller scales the summed gradient).
 * z: logits [N, K]; t: one-hot rows of each image's label or target [N, K].
 *   ce:          ∂CE/∂z = softmax(z) − t, negated when untargeted (J = −CE);
 *   clamped-ce:  the same, times [CE < β] (untargeted; targeted it is plain CE), CE = logsumexp(z) − z·t;
 *   complement:  untargeted softmax(z) − softmax(z − 10³⁰·t) (targeted: as ce);
 *   ce-norm:     ce's rows, each divided by its ℓ2 length (at least ROW_LENGTH_FLOOR, as lossGradient);
 *   margin:      o = one-hot of argmax over the other classes (ArgMax keeps the first of ties, as tfjs's argMax);
 *                untargeted t − o, targeted o − t, times [m > −κ] with m the signed margin.
 */
export function emitLossGradient(g: OnnxGraph, z: string, t: string, K: number, o: LogitObjective): string {
  const rowSum = (a: string) => g.op1('ReduceSum', [a, g.ints([1])], { keepdims: 1 }, 'rowsum');
  const gate = (grad: string, cond: string) => g.op1('Mul', [grad, g.op1('Cast', [cond], BOOL_TO_FLOAT, 'active')]);
  if (o.loss === 'complement' && !o.targeted) {
    const others = g.op1('Softmax', [g.op1('Sub', [z, g.op1('Mul', [t, g.scalar(1e30)])], {}, 'others')], { axis: 1 });
    return g.op1('Sub', [g.op1('Softmax', [z], { axis: 1 }), others], {}, 'dcomplement');
  }
  if (o.loss === 'ce-norm') {
    const dce = g.op1('Sub', [g.op1('Softmax', [z], { axis: 1 }), t], {}, 'dce');
    const len = g.op1('Max', [g.op1('ReduceL2', [dce], { axes: [1], keepdims: 1 }, 'rowlen'), g.scalar(ROW_LENGTH_FLOOR)]);
    const unit = g.op1('Div', [dce, len], {}, 'unit');
    return o.targeted ? unit : g.op1('Neg', [unit]);
  }
  if (o.loss === 'ce' || o.loss === 'clamped-ce' || o.loss === 'complement') {
    const dce = g.op1('Sub', [g.op1('Softmax', [z], { axis: 1 }), t], {}, 'dce');
    if (o.targeted) return dce;
    if (o.loss === 'ce') return g.op1('Neg', [dce]);
    const ce = g.op1('Sub', [g.op1('ReduceLogSumExp', [z], { axes: [1], keepdims: 1 }, 'lse'), rowSum(g.op1('Mul', [z, t]))], {}, 'ce');
    return g.op1('Neg', [gate(dce, g.op1('Less', [ce, g.scalar(o.beta)]))]);
  }
  const masked = g.op1('Sub', [z, g.op1('Mul', [t, g.scalar(1e30)])], {}, 'others');
  const best = g.op1('ArgMax', [masked], { axis: 1, keepdims: 0 }, 'rival');
  const other = g.op1('OneHot', [best, g.ints([K], []), g.floats(new Float32Array([0, 1]), [2], 'onoff')], { axis: -1 }, 'other');
  const zc = rowSum(g.op1('Mul', [z, t]));
  const zo = rowSum(g.op1('Mul', [z, other]));
  const margin = o.targeted ? g.op1('Sub', [zo, zc]) : g.op1('Sub', [zc, zo]);
  const dir = o.targeted ? g.op1('Sub', [other, t]) : g.op1('Sub', [t, other]);
  return gate(dir, g.op1('Greater', [margin, g.scalar(-o.kappa)]));
}
