import * as tf from '@tensorflow/tfjs';
import { UapError } from '../../errors.js';
import { NetBuilder, type Activation, type Net, type NetOp, type Padding } from '../net/ir.js';

/**
 * Shared machinery of the model loaders: every format is first converted into a "raw" graph whose
 * weights are plain typed arrays (so batch norms and bias adds can be folded into the preceding
 * convolution on the CPU), with static shape inference, then materialised into a Net of tf tensors.
 */

export interface RawTensor {
  data: Float32Array;
  shape: number[];
}

type WithRaw<T> = {
  [K in keyof T]: T[K] extends tf.Tensor | undefined ? RawTensor | Extract<T[K], undefined> : T[K];
};
/** A NetOp whose weights are raw arrays. */
export type RawOp = NetOp extends infer O ? (O extends NetOp ? WithRaw<O> : never) : never;

export interface RawNode {
  name: string;
  op?: RawOp;
  inputs: number[];
  /** Shape without the batch axis. */
  shape: number[];
}

/** Preprocessing from pixels p (0..255): x = p * scale + shift, per channel or scalar; optional RGB→BGR first. */
export interface Preprocessing {
  scale: number | number[];
  shift: number | number[];
  reverseChannels?: boolean;
}

export function raw(data: Float32Array, shape: number[]): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`tensor of shape [${shape}] needs ${n} values, got ${data.length}`);
  return { data, shape };
}

function outSize(inSize: number, k: number, stride: number, dilation: number, pad: Padding | 'same' | 'valid', padPair?: [number, number]): number {
  const ek = (k - 1) * dilation + 1;
  if (pad === 'same') return Math.ceil(inSize / stride);
  if (pad === 'valid') return Math.floor((inSize - ek) / stride) + 1;
  const [a, b] = padPair!;
  return Math.floor((inSize + a + b - ek) / stride) + 1;
}

function product(xs: number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

/** Resolves a reshape target (which may hold one -1) against an input of `size` values. */
export function resolveShape(target: number[], size: number, where: string): number[] {
  const known = target.filter((d) => d !== -1);
  const free = target.length - known.length;
  const k = product(known);
  if (free > 1 || (free === 0 && k !== size) || (free === 1 && (k === 0 || size % k !== 0))) {
    throw new UapError('BAD_MODEL', `cannot reshape ${size} values to [${target}]`, where);
  }
  return target.map((d) => (d === -1 ? size / k : d));
}

export class RawGraph {
  readonly nodes: RawNode[];

  constructor(
    readonly inputShape: [number, number, number],
    /** names the model in error messages */
    readonly source: string,
  ) {
    this.nodes = [{ name: 'input', inputs: [], shape: [...inputShape] }];
  }

  shape(id: number): number[] {
    return this.nodes[id]!.shape;
  }

  bad(message: string): UapError {
    return new UapError('BAD_MODEL', message, this.source);
  }

  add(name: string, op: RawOp, inputs: number | number[]): number {
    const ins = Array.isArray(inputs) ? inputs : [inputs];
    const shape = this.inferShape(name, op, ins.map((i) => this.shape(i)));
    this.nodes.push({ name, op, inputs: ins, shape });
    return this.nodes.length - 1;
  }

  private need4(name: string, s: number[]): [number, number, number] {
    if (s.length !== 3) throw this.bad(`layer ${name} needs an [H, W, C] input, got [${s}]`);
    return s as [number, number, number];
  }

  private inferShape(name: string, op: RawOp, ins: number[][]): number[] {
    const s = ins[0]!;
    switch (op.kind) {
      case 'conv2d':
      case 'depthwiseConv2d': {
        const [h, w, c] = this.need4(name, s);
        const [kh, kw, fin, fout] = op.filter.shape as [number, number, number, number];
        if (fin !== c) throw this.bad(`layer ${name}: filter expects ${fin} input channels, got ${c}`);
        const d = op.dilations ?? [1, 1];
        const pad = op.pad;
        const ph = typeof pad === 'string' ? pad : 'explicit';
        const oh = outSize(h, kh, op.strides[0], d[0], ph as Padding, typeof pad === 'string' ? undefined : pad[0]);
        const ow = outSize(w, kw, op.strides[1], d[1], ph as Padding, typeof pad === 'string' ? undefined : pad[1]);
        const oc = op.kind === 'conv2d' ? fout : c * fout;
        if (op.bias && op.bias.data.length !== oc) throw this.bad(`layer ${name}: bias has ${op.bias.data.length} values, expected ${oc}`);
        return [oh, ow, oc];
      }
      case 'maxPool':
      case 'avgPool': {
        const [h, w, c] = this.need4(name, s);
        return [outSize(h, op.size[0], op.strides[0], 1, op.pad), outSize(w, op.size[1], op.strides[1], 1, op.pad), c];
      }
      case 'globalAvgPool':
        return [this.need4(name, s)[2]];
      case 'pad': {
        const [h, w, c] = this.need4(name, s);
        return [h + op.paddings[0][0] + op.paddings[0][1], w + op.paddings[1][0] + op.paddings[1][1], c];
      }
      case 'dense': {
        if (s.length !== 1) throw this.bad(`layer ${name}: dense needs a flat input, got [${s}]`);
        if (op.kernel.shape[0] !== s[0]) throw this.bad(`layer ${name}: kernel expects ${op.kernel.shape[0]} inputs, got ${s[0]}`);
        return [op.kernel.shape[1]!];
      }
      case 'reshape':
        return resolveShape(op.shape, product(s), `${this.source}: ${name}`);
      case 'scaleShift': {
        const c = s[s.length - 1]!;
        for (const t of [op.scale, op.shift]) {
          if (t.data.length !== c && t.data.length !== 1) throw this.bad(`layer ${name}: ${t.data.length} per-channel values for ${c} channels`);
        }
        return s;
      }
      case 'add':
        for (const o of ins) if (o.join() !== s.join()) throw this.bad(`layer ${name}: cannot add [${s}] and [${o}]`);
        return s;
      case 'concat': {
        const c = ins.reduce((a, o) => a + o[o.length - 1]!, 0);
        return [...s.slice(0, -1), c];
      }
      case 'gatherOutputs':
        return [op.indices.length];
      default:
        return s;
    }
  }

  /** Per-channel affine after node `id` (fused into it when it is linear and has no other consumer). */
  scaleShift(name: string, id: number, scale: Float32Array, shift: Float32Array): number {
    return this.add(name, { kind: 'scaleShift', scale: raw(scale, [scale.length]), shift: raw(shift, [shift.length]), activation: 'linear' }, id);
  }

  activation(name: string, id: number, activation: Activation): number {
    if (activation === 'linear') return id;
    return this.add(name, { kind: 'activation', activation }, id);
  }

  /** Adds the preprocessing nodes after the input; returns the id of the preprocessed value. */
  preprocess(pre: Preprocessing): number {
    const c = this.inputShape[2];
    let id = 0;
    if (pre.reverseChannels) id = this.add('preprocess/bgr', { kind: 'reverseChannels' }, id);
    const vec = (v: number | number[]) => {
      const a = typeof v === 'number' ? new Array<number>(c).fill(v) : v;
      if (a.length !== c) throw this.bad(`preprocessing has ${a.length} values for ${c} channels`);
      return Float32Array.from(a);
    };
    return this.scaleShift('preprocess', id, vec(pre.scale), vec(pre.shift));
  }

  /**
   * Fuses chains the forward and backward passes need not see separately: a linear conv/dense followed
   * by a scaleShift (batch norm, bias add) gets it folded into its weights; a linear op followed by an
   * activation takes the activation; consecutive scaleShifts merge. Only single-consumer values are fused.
   */
  optimize(output: number): { nodes: RawNode[]; output: number } {
    const nodes = this.nodes.map((n) => ({ ...n, inputs: [...n.inputs] }));
    const consumers = new Array<number>(nodes.length).fill(0);
    for (const n of nodes) for (const i of n.inputs) consumers[i]!++;
    consumers[output]!++;
    const alias = nodes.map((_, i) => i);
    const removed = new Array<boolean>(nodes.length).fill(false);
    const find = (i: number): number => (alias[i] === i ? i : (alias[i] = find(alias[i]!)));
    for (let id = 1; id < nodes.length; id++) {
      const n = nodes[id]!;
      n.inputs = n.inputs.map(find);
      if (n.inputs.length !== 1) continue;
      const pid = n.inputs[0]!;
      const p = nodes[pid]!;
      if (pid === 0 || !p.op || consumers[pid] !== 1 || removed[pid]) continue;
      const op = n.op!;
      const pop = p.op;
      let merged: RawOp | undefined;
      if (op.kind === 'scaleShift') {
        if ('activation' in pop && pop.activation === 'linear') {
          merged = foldAffine(pop, op.scale.data, op.shift.data, op.activation);
        }
      } else if (op.kind === 'activation') {
        if ('activation' in pop && pop.activation === 'linear' && pop.kind !== 'activation') {
          merged = { ...pop, activation: op.activation } as RawOp;
        }
      }
      if (merged) {
        p.op = merged;
        p.shape = n.shape;
        removed[id] = true;
        alias[id] = pid;
        consumers[pid] = consumers[id]!;
      }
    }
    const newId = new Array<number>(nodes.length).fill(-1);
    const out: RawNode[] = [];
    for (let id = 0; id < nodes.length; id++) {
      if (removed[id]) continue;
      newId[id] = out.length;
      const n = nodes[id]!;
      out.push({ ...n, inputs: n.inputs.map((i) => newId[find(i)]!) });
    }
    return { nodes: out, output: newId[find(output)]! };
  }

  /** Optimises, checks the output is [K], and creates the tf tensors. */
  build(output: number): LoadedNet {
    if (this.shape(output).length !== 1) {
      output = this.add('logits/flatten', { kind: 'reshape', shape: [product(this.shape(output))] }, output);
    }
    const outputs = this.shape(output)[0]!;
    const { nodes, output: out } = this.optimize(output);
    // Drop nodes the output does not depend on.
    const live = new Array<boolean>(nodes.length).fill(false);
    live[out] = true;
    for (let id = out; id > 0; id--) if (live[id]) for (const i of nodes[id]!.inputs) live[i] = true;
    const b = new NetBuilder(this.inputShape);
    const map = new Array<number>(nodes.length).fill(-1);
    map[0] = 0;
    for (let id = 1; id < nodes.length; id++) {
      if (!live[id]) continue;
      const n = nodes[id]!;
      map[id] = b.add(n.name, materialize(n.op!), n.inputs.map((i) => map[i]!));
    }
    return { net: b.build(map[out]!), outputs };
  }
}

/** A converted net and its number of outputs (before any relabelling). */
export interface LoadedNet {
  net: Net;
  outputs: number;
}

/** Appends a gatherOutputs node (drop a background class, reorder classes) after a net's output. */
export function appendGather(net: Net, indices: Int32Array): Net {
  const id = net.nodes.length;
  return {
    inputShape: net.inputShape,
    nodes: [...net.nodes, { id, name: 'logits/gather', op: { kind: 'gatherOutputs', indices }, inputs: [net.output] }],
    output: id,
  };
}

/** y = act(op(x) * scale + shift) folded into op, when op is linear. */
function foldAffine(op: RawOp, scale: Float32Array, shift: Float32Array, act: Activation): RawOp | undefined {
  const at = (a: Float32Array, i: number) => (a.length === 1 ? a[0]! : a[i]!);
  if (op.kind === 'conv2d' || op.kind === 'depthwiseConv2d' || op.kind === 'dense') {
    const w = op.kind === 'dense' ? op.kernel : op.filter;
    const oc = op.kind === 'conv2d' ? w.shape[3]! : op.kind === 'dense' ? w.shape[1]! : w.shape[2]! * w.shape[3]!;
    if ((scale.length !== 1 && scale.length !== oc) || (shift.length !== 1 && shift.length !== oc)) return undefined;
    const nw = new Float32Array(w.data.length);
    for (let i = 0; i < nw.length; i++) nw[i] = w.data[i]! * at(scale, i % oc);
    const nb = new Float32Array(oc);
    for (let o = 0; o < oc; o++) nb[o] = (op.bias ? op.bias.data[o]! : 0) * at(scale, o) + at(shift, o);
    const bias = raw(nb, [oc]);
    if (op.kind === 'dense') return { ...op, kernel: raw(nw, w.shape), bias, activation: act };
    return { ...op, filter: raw(nw, w.shape), bias, activation: act };
  }
  if (op.kind === 'scaleShift') {
    const n = Math.max(op.scale.data.length, op.shift.data.length, scale.length, shift.length);
    const s = new Float32Array(n);
    const t = new Float32Array(n);
    for (let c = 0; c < n; c++) {
      s[c] = at(op.scale.data, c) * at(scale, c);
      t[c] = at(op.shift.data, c) * at(scale, c) + at(shift, c);
    }
    return { kind: 'scaleShift', scale: raw(s, [n]), shift: raw(t, [n]), activation: act };
  }
  return undefined;
}

function materialize(op: RawOp): NetOp {
  const t = <R extends tf.Rank>(r: RawTensor) => tf.tensor(r.data, r.shape as number[], 'float32') as unknown as tf.Tensor<R>;
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d':
      return { ...op, filter: t<tf.Rank.R4>(op.filter), bias: op.bias && t<tf.Rank.R1>(op.bias) };
    case 'dense':
      return { ...op, kernel: t<tf.Rank.R2>(op.kernel), bias: op.bias && t<tf.Rank.R1>(op.bias) };
    case 'scaleShift':
      return { ...op, scale: t<tf.Rank.R1>(op.scale), shift: t<tf.Rank.R1>(op.shift) };
    default:
      return op as NetOp;
  }
}

/** Float16 bits → float32. */
export function float16ToFloat32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i]!;
    const s = x & 0x8000 ? -1 : 1;
    const e = (x >> 10) & 0x1f;
    const f = x & 0x3ff;
    out[i] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return out;
}

/** Transposes a row-major tensor. */
export function transpose(t: RawTensor, perm: number[]): RawTensor {
  const shape = perm.map((p) => t.shape[p]!);
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= t.shape[i]!;
  }
  const out = new Float32Array(t.data.length);
  const idx = new Array<number>(rank).fill(0);
  const permStrides = perm.map((p) => inStrides[p]!);
  for (let o = 0; o < out.length; o++) {
    let off = 0;
    for (let d = 0; d < rank; d++) off += idx[d]! * permStrides[d]!;
    out[o] = t.data[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape };
}
