import { UapError } from '../../errors.js';
import type { Activation, Padding } from '../net/ir.js';
import { RawGraph, raw, resolveShape, transpose, type LoadedNet, type Preprocessing, type RawTensor } from './common.js';
import type { DecodedWeight } from './weights.js';

/**
 * TF.js graph model (a TensorFlow GraphDef in model.json) → Net. The ops of frozen image classifiers
 * are mapped: convolutions (plain and _Fused*), BiasAdd/Add/Sub/Mul/RealDiv with constants (folded
 * into the preceding convolution), FusedBatchNorm, Relu/Relu6/LeakyRelu, pooling, Mean, Squeeze/Reshape,
 * MatMul, Pad, ConcatV2, Identity; a final Softmax is dropped (logits out).
 */

interface GNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, GAttr>;
}
interface GAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  list?: { i?: (string | number)[]; s?: string[]; f?: number[] };
  shape?: { dim?: { size: string | number }[]; unknownRank?: boolean };
  tensor?: unknown;
  type?: string;
}

export interface GraphToNetOptions {
  source: string;
  preprocessing?: Preprocessing;
}

type Value = { kind: 'const'; t: RawTensor } | { kind: 'node'; id: number; soft: boolean };

function b64(s: string): string {
  if (typeof atob === 'function') return atob(s);
  return s;
}

export function graphModelToNet(modelJson: unknown, weights: Map<string, DecodedWeight>, opts: GraphToNetOptions): LoadedNet {
  const src = opts.source;
  const bad = (m: string) => new UapError('BAD_MODEL', m, src);
  const topo = (modelJson as { modelTopology?: { node?: GNode[] }; signature?: { outputs?: Record<string, { name?: string }> } })
    ?.modelTopology;
  if (!topo || !Array.isArray(topo.node)) throw bad('graph model has no node list');
  const nodes = new Map<string, GNode>();
  for (const n of topo.node) nodes.set(n.name, n);

  const inputName = (s: string) => s.replace(/^\^/, '').replace(/:0$/, '');
  const dataInputs = (n: GNode) => (n.input ?? []).filter((s) => !s.startsWith('^')).map((s) => {
    if (/:\d+$/.test(s) && !s.endsWith(':0')) throw bad(`node ${n.name} reads output ${s}: multi-output nodes unsupported`);
    return inputName(s);
  });

  // Output: the signature's, else the single sink that is not a constant.
  const used = new Set<string>();
  for (const n of topo.node) for (const s of n.input ?? []) used.add(inputName(s));
  const sig = (modelJson as { signature?: { outputs?: Record<string, { name?: string }> } }).signature?.outputs;
  let outName: string | undefined = sig ? Object.values(sig)[0]?.name?.replace(/:0$/, '') : undefined;
  if (!outName) {
    const sinks = topo.node.filter((n) => !used.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp' && n.op !== 'Placeholder');
    if (sinks.length !== 1) throw bad(`cannot tell the output node: ${sinks.length} candidates (${sinks.slice(0, 5).map((n) => n.name).join(', ')})`);
    outName = sinks[0]!.name;
  }
  const placeholders = topo.node.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) throw bad(`expected one Placeholder input, found ${placeholders.length}`);
  const dims = placeholders[0]!.attr?.shape?.shape?.dim?.map((d) => Number(d.size)) ?? [];
  if (dims.length !== 4 || !dims.slice(1).every((d) => d > 0)) throw bad(`input shape [${dims}] is not a fixed [N, H, W, C] image`);
  const g = new RawGraph([dims[1]!, dims[2]!, dims[3]!], src);
  const pre = opts.preprocessing ? g.preprocess(opts.preprocessing) : 0;

  const attr = (n: GNode, k: string) => n.attr?.[k];
  const str = (n: GNode, k: string, d: string) => {
    const a = attr(n, k);
    return a?.s !== undefined ? b64(a.s) : d;
  };
  const ints = (n: GNode, k: string) => (attr(n, k)?.list?.i ?? []).map(Number);
  const strs = (n: GNode, k: string) => (attr(n, k)?.list?.s ?? []).map(b64);
  const num = (n: GNode, k: string, d: number) => {
    const a = attr(n, k);
    return a?.f !== undefined ? Number(a.f) : a?.i !== undefined ? Number(a.i) : d;
  };
  const hw = (v: number[], d: number): [number, number] => (v.length === 4 ? [v[1]!, v[2]!] : [d, d]);
  const padOf = (n: GNode): Padding => {
    const p = str(n, 'padding', 'VALID');
    if (p === 'SAME') return 'same';
    if (p === 'VALID') return 'valid';
    if (p === 'EXPLICIT') {
      const e = ints(n, 'explicit_paddings');
      return [[e[2] ?? 0, e[3] ?? 0], [e[4] ?? 0, e[5] ?? 0]];
    }
    throw bad(`node ${n.name}: padding ${p} unsupported`);
  };
  const checkFormat = (n: GNode) => {
    const f = str(n, 'data_format', 'NHWC');
    if (f !== 'NHWC') throw bad(`node ${n.name} (${n.op}): data_format ${f} unsupported`);
  };

  const memo = new Map<string, Value>();
  const visiting = new Set<string>();

  const constOf = (name: string): RawTensor => {
    const v = value(name);
    if (v.kind !== 'const') throw bad(`node ${name} was expected to be a constant`);
    return v.t;
  };
  const nodeOf = (name: string, consumer: GNode): { id: number; soft: boolean } => {
    const v = value(name);
    if (v.kind !== 'node') throw bad(`node ${consumer.name} (${consumer.op}): constant-only input ${name} unsupported`);
    if (v.soft && !['Squeeze', 'Reshape', 'Identity'].includes(consumer.op)) {
      throw bad(`node ${consumer.name} (${consumer.op}) follows a softmax: only reshapes may follow it`);
    }
    return v;
  };

  function value(name: string): Value {
    const m = memo.get(name);
    if (m) return m;
    const n = nodes.get(name);
    if (!n) throw bad(`node ${name} is referenced but not defined`);
    if (visiting.has(name)) throw bad(`cycle at node ${name}`);
    visiting.add(name);
    const v = evaluate(n);
    visiting.delete(name);
    memo.set(name, v);
    return v;
  }

  function affine(n: GNode, x: number, scale: Float32Array, shift: Float32Array): number {
    return g.scaleShift(n.name, x, scale, shift);
  }

  function perChannel(n: GNode, t: RawTensor, x: number): Float32Array {
    const ch = g.shape(x).at(-1)!;
    if (t.data.length === 1 || (t.data.length === ch && t.shape[t.shape.length - 1] === ch)) return t.data;
    throw bad(`node ${n.name} (${n.op}): constant of shape [${t.shape}] is not a scalar or per-channel vector`);
  }

  function activationNode(n: GNode, x: number, a: Activation): number {
    return g.activation(n.name, x, a);
  }

  function evaluate(n: GNode): Value {
    const ins = dataInputs(n);
    const node = (id: number, soft = false): Value => ({ kind: 'node', id, soft });
    switch (n.op) {
      case 'Const': {
        const w = weights.get(n.name);
        if (!w) throw bad(`constant ${n.name} has no value in the weights manifest`);
        return { kind: 'const', t: raw(Float32Array.from(w.data), w.shape.length ? w.shape : [1]) };
      }
      case 'Placeholder':
        return node(pre);
      case 'Identity':
      case 'StopGradient':
      case 'Snapshot':
      case 'PreventGradient':
        return value(ins[0]!);
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative': {
        checkFormat(n);
        const x = nodeOf(ins[0]!, n).id;
        const filter = constOf(ins[1]!);
        const depthwise = n.op.includes('Depthwise');
        let id = g.add(n.name, {
          kind: depthwise ? 'depthwiseConv2d' : 'conv2d', filter, strides: hw(ints(n, 'strides'), 1), pad: padOf(n),
          dilations: hw(ints(n, 'dilations'), 1), activation: 'linear',
        }, x);
        if (n.op.startsWith('_Fused') || n.op.startsWith('Fused')) {
          const fused = strs(n, 'fused_ops');
          const args = ins.slice(2);
          for (const f of fused) {
            if (f === 'BiasAdd' || f === 'Add' || f === 'AddV2') {
              const b = constOf(args.shift()!).data;
              id = affine(n, id, new Float32Array(b.length).fill(1), b);
            } else if (f === 'FusedBatchNorm' || f === 'FusedBatchNormV3') {
              const [s, o, mean, variance] = [0, 1, 2, 3].map(() => constOf(args.shift()!).data) as Float32Array[];
              id = batchNorm(n, id, s!, o!, mean!, variance!);
            } else if (f === 'Relu') id = activationNode(n, id, 'relu');
            else if (f === 'Relu6') id = activationNode(n, id, 'relu6');
            else if (f === 'LeakyRelu') id = activationNode(n, id, { leakyAlpha: num(n, 'leakyrelu_alpha', 0.2) });
            else throw bad(`node ${n.name}: fused op ${f} unsupported`);
          }
        }
        return node(id);
      }
      case 'BiasAdd':
      case 'Add':
      case 'AddV2':
      case 'Sub':
      case 'Mul':
      case 'RealDiv': {
        const [a, b] = [value(ins[0]!), value(ins[1]!)];
        if (a.kind === 'const' && b.kind === 'const') return { kind: 'const', t: constFold(n, a.t, b.t) };
        if (a.kind === 'node' && b.kind === 'node') {
          if (n.op === 'Add' || n.op === 'AddV2') {
            nodeOf(ins[0]!, n);
            nodeOf(ins[1]!, n);
            return node(g.add(n.name, { kind: 'add' }, [a.id, b.id]));
          }
          throw bad(`node ${n.name}: ${n.op} of two computed tensors unsupported`);
        }
        const xName = a.kind === 'node' ? ins[0]! : ins[1]!;
        const x = nodeOf(xName, n).id;
        const c = perChannel(n, (a.kind === 'const' ? a.t : (b as { t: RawTensor }).t), x);
        const ones = new Float32Array(c.length).fill(1);
        const zeros = new Float32Array(c.length);
        const constFirst = a.kind === 'const';
        switch (n.op) {
          case 'Mul':
            return node(affine(n, x, c, zeros));
          case 'RealDiv':
            if (constFirst) throw bad(`node ${n.name}: division by a computed tensor unsupported`);
            return node(affine(n, x, c.map((v) => 1 / v), zeros));
          case 'Sub':
            return node(constFirst ? affine(n, x, ones.map(() => -1), c) : affine(n, x, ones, c.map((v) => -v)));
          default:
            return node(affine(n, x, ones, c));
        }
      }
      case 'FusedBatchNorm':
      case 'FusedBatchNormV2':
      case 'FusedBatchNormV3': {
        checkFormat(n);
        const x = nodeOf(ins[0]!, n).id;
        const [s, o, mean, variance] = ins.slice(1, 5).map((i) => constOf(i).data);
        return node(batchNorm(n, x, s!, o!, mean!, variance!));
      }
      case 'Relu':
        return node(activationNode(n, nodeOf(ins[0]!, n).id, 'relu'));
      case 'Relu6':
        return node(activationNode(n, nodeOf(ins[0]!, n).id, 'relu6'));
      case 'LeakyRelu':
        return node(activationNode(n, nodeOf(ins[0]!, n).id, { leakyAlpha: num(n, 'alpha', 0.2) }));
      case 'AvgPool':
      case 'MaxPool': {
        checkFormat(n);
        const pad = padOf(n);
        if (typeof pad !== 'string') throw bad(`node ${n.name}: explicit pooling padding unsupported`);
        return node(g.add(n.name, { kind: n.op === 'MaxPool' ? 'maxPool' : 'avgPool', size: hw(ints(n, 'ksize'), 1), strides: hw(ints(n, 'strides'), 1), pad }, nodeOf(ins[0]!, n).id));
      }
      case 'Mean': {
        const x = nodeOf(ins[0]!, n).id;
        const axes = Array.from(constOf(ins[1]!).data).map((a) => (a < 0 ? a + 4 : a)).sort();
        if (axes.join() !== '1,2' || g.shape(x).length !== 3) throw bad(`node ${n.name}: Mean over axes [${axes}] unsupported (spatial mean only)`);
        let id = g.add(n.name, { kind: 'globalAvgPool' }, x);
        if (attr(n, 'keep_dims')?.b) id = g.add(`${n.name}/keepdims`, { kind: 'reshape', shape: [1, 1, g.shape(id)[0]!] }, id);
        return node(id);
      }
      case 'Squeeze':
      case 'Reshape': {
        const v = nodeOf(ins[0]!, n);
        const s = g.shape(v.id);
        const size = s.reduce((p, q) => p * q, 1);
        let target: number[];
        if (n.op === 'Squeeze') {
          const full = [1, ...s];
          const d = ints(n, 'squeeze_dims').map((k) => (k < 0 ? k + full.length : k));
          target = full.filter((k, i) => i > 0 && (d.length ? !d.includes(i) : k !== 1));
        } else {
          const t = Array.from(constOf(ins[1]!).data);
          target = t.slice(1);
          if (t[0] !== -1 && t[0] !== 1) throw bad(`node ${n.name}: reshape that changes the batch axis unsupported`);
        }
        const shape = resolveShape(target.length ? target : [size], size, `${src}: ${n.name}`);
        return node(shape.join() === s.join() ? v.id : g.add(n.name, { kind: 'reshape', shape }, v.id), v.soft);
      }
      case 'Softmax':
        return node(nodeOf(ins[0]!, n).id, true);
      case 'MatMul': {
        if (attr(n, 'transpose_a')?.b) throw bad(`node ${n.name}: MatMul with transpose_a unsupported`);
        const x = nodeOf(ins[0]!, n).id;
        let k = constOf(ins[1]!);
        if (attr(n, 'transpose_b')?.b) k = transpose(k, [1, 0]);
        return node(g.add(n.name, { kind: 'dense', kernel: k, activation: 'linear' }, x));
      }
      case 'Pad':
      case 'PadV2': {
        const p = Array.from(constOf(ins[1]!).data);
        if (p.length !== 8 || p[0] || p[1] || p[6] || p[7]) throw bad(`node ${n.name}: only height/width padding is supported`);
        if (n.op === 'PadV2' && constOf(ins[2]!).data.some((v) => v !== 0)) throw bad(`node ${n.name}: non-zero pad value unsupported`);
        return node(g.add(n.name, { kind: 'pad', paddings: [[p[2]!, p[3]!], [p[4]!, p[5]!]] }, nodeOf(ins[0]!, n).id));
      }
      case 'ConcatV2': {
        const axisT = constOf(ins[ins.length - 1]!).data[0]!;
        const parts = ins.slice(0, -1).map((i) => nodeOf(i, n).id);
        const rank = g.shape(parts[0]!).length + 1;
        if (axisT !== -1 && axisT !== rank - 1) throw bad(`node ${n.name}: concatenation along axis ${axisT} unsupported`);
        return node(g.add(n.name, { kind: 'concat' }, parts));
      }
      default:
        throw bad(`unsupported graph op ${n.op} (node ${n.name})`);
    }
  }

  function batchNorm(n: GNode, x: number, s: Float32Array, o: Float32Array, mean: Float32Array, variance: Float32Array): number {
    const eps = num(n, 'epsilon', 1e-3);
    const scale = new Float32Array(s.length);
    const shift = new Float32Array(s.length);
    for (let c = 0; c < s.length; c++) {
      scale[c] = s[c]! / Math.sqrt(variance[c]! + eps);
      shift[c] = o[c]! - mean[c]! * scale[c]!;
    }
    return g.scaleShift(n.name, x, scale, shift);
  }

  function constFold(n: GNode, a: RawTensor, b: RawTensor): RawTensor {
    const len = Math.max(a.data.length, b.data.length);
    if ((a.data.length !== 1 && a.data.length !== len) || (b.data.length !== 1 && b.data.length !== len)) {
      throw bad(`node ${n.name}: broadcasting of constants [${a.shape}] and [${b.shape}] unsupported`);
    }
    const at = (t: RawTensor, i: number) => (t.data.length === 1 ? t.data[0]! : t.data[i]!);
    const f = { BiasAdd: (p: number, q: number) => p + q, Add: (p: number, q: number) => p + q, AddV2: (p: number, q: number) => p + q, Sub: (p: number, q: number) => p - q, Mul: (p: number, q: number) => p * q, RealDiv: (p: number, q: number) => p / q }[n.op as 'Add']!;
    const out = new Float32Array(len);
    for (let i = 0; i < len; i++) out[i] = f(at(a, i), at(b, i));
    return raw(out, a.data.length >= b.data.length ? a.shape : b.shape);
  }

  const out = value(outName);
  if (out.kind !== 'node') throw bad(`output ${outName} is a constant`);
  return g.build(out.id);
}
