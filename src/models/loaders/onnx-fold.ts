import { DataType, tensorValues, type Attributes, type NodeProto, type TensorValues } from '../onnx/proto.js';

/**
 * Constant folding for the ONNX importer: the shape arithmetic exporters emit (Shape → Gather → Sub → Div
 * → Cast → Unsqueeze → Concat → Reshape → Slice → Transpose feeding a Pad, or a Reshape's target) is
 * evaluated here, on plain arrays with numpy broadcasting. NaN stands for the one unknown, the batch size,
 * and propagates; whoever needs a concrete number checks for it. Returns null for an op it cannot fold.
 * Throws a plain Error for malformed inputs (the caller adds the node and the file).
 */
export function foldConstant(op: string, node: NodeProto, ins: (TensorValues | undefined)[], a: Attributes, opset: number): TensorValues | null {
  const x = ins[0];
  switch (op) {
    case 'Identity':
      return x ?? null;
    case 'Cast': {
      const to = a.int('to', DataType.FLOAT);
      const integer = to !== DataType.FLOAT && to !== DataType.DOUBLE && to !== DataType.FLOAT16;
      const data = Float64Array.from(need(x).data, (v) => (to === DataType.BOOL ? (v !== 0 ? 1 : 0) : integer ? Math.trunc(v) : to === DataType.FLOAT ? Math.fround(v) : v));
      return { data, shape: need(x).shape, integer };
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Pow':
    case 'Max':
    case 'Min':
    case 'Equal':
    case 'Less':
    case 'Greater':
    case 'Mod': {
      const [p, q] = [need(ins[0]), need(ins[1])];
      const integer = p.integer && q.integer;
      const f: Record<string, (u: number, v: number) => number> = {
        Add: (u, v) => u + v,
        Sub: (u, v) => u - v,
        Mul: (u, v) => u * v,
        Div: (u, v) => (integer ? Math.trunc(u / v) : u / v),
        Pow: (u, v) => u ** v,
        Max: Math.max,
        Min: Math.min,
        Equal: (u, v) => (u === v ? 1 : 0),
        Less: (u, v) => (u < v ? 1 : 0),
        Greater: (u, v) => (u > v ? 1 : 0),
        Mod: (u, v) => u - v * Math.floor(u / v),
      };
      const cmp = op === 'Equal' || op === 'Less' || op === 'Greater';
      return { ...broadcastValues(p, q, f[op]!), integer: integer || cmp };
    }
    case 'Neg':
    case 'Abs':
    case 'Floor':
    case 'Ceil':
    case 'Sqrt':
    case 'Reciprocal':
    case 'Not': {
      const f: Record<string, (u: number) => number> = {
        Neg: (u) => -u, Abs: Math.abs, Floor: Math.floor, Ceil: Math.ceil, Sqrt: Math.sqrt, Reciprocal: (u) => 1 / u, Not: (u) => (u ? 0 : 1),
      };
      const t = need(x);
      return { data: Float64Array.from(t.data, f[op]!), shape: t.shape, integer: t.integer };
    }
    case 'Where': {
      const [c, p, q] = [need(ins[0]), need(ins[1]), need(ins[2])];
      // broadcast all three to one shape, then pick
      const zeros = (t: TensorValues) => ({ ...t, data: new Float64Array(t.data.length) });
      const shape = broadcastValues(broadcastValues(zeros(c), zeros(p), (u) => u), zeros(q), (u) => u).shape;
      const full = (t: TensorValues) => broadcastValues({ data: new Float64Array(size(shape)), shape, integer: false }, t, (_, v) => v).data;
      const [cc, pp, qq] = [full(c), full(p), full(q)];
      return { data: Float64Array.from(cc, (v, i) => (v ? pp[i]! : qq[i]!)), shape, integer: p.integer && q.integer };
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const t = need(x);
      const axes = a.ints('axes') ?? (ins[1] ? Array.from(ins[1].data) : undefined);
      if (op === 'Unsqueeze') {
        const rank = t.shape.length + (axes?.length ?? 0);
        const ax = (axes ?? []).map((d) => (d < 0 ? d + rank : d));
        const shape: number[] = [];
        let k = 0;
        for (let i = 0; i < rank; i++) shape.push(ax.includes(i) ? 1 : t.shape[k++]!);
        return { ...t, shape };
      }
      const ax = axes?.map((d) => (d < 0 ? d + t.shape.length : d));
      return { ...t, shape: t.shape.filter((d, i) => (ax ? !ax.includes(i) : d !== 1)) };
    }
    case 'Concat': {
      const ts = ins.filter((t): t is TensorValues => t !== undefined);
      const rank = ts[0]!.shape.length;
      let axis = a.int('axis', 0);
      if (axis < 0) axis += rank;
      const outer = size(ts[0]!.shape.slice(0, axis));
      const parts = ts.map((t) => ({ t, inner: size(t.shape.slice(axis)) }));
      const data = new Float64Array(parts.reduce((s, p) => s + p.t.data.length, 0));
      let o = 0;
      for (let i = 0; i < outer; i++) for (const p of parts) for (let j = 0; j < p.inner; j++) data[o++] = p.t.data[i * p.inner + j]!;
      const shape = [...ts[0]!.shape];
      shape[axis] = ts.reduce((s, t) => s + t.shape[axis]!, 0);
      return { data, shape, integer: ts.every((t) => t.integer) };
    }
    case 'Gather': {
      const t = need(x);
      const idx = need(ins[1]);
      let axis = a.int('axis', 0);
      if (axis < 0) axis += t.shape.length;
      const n = t.shape[axis]!;
      const outer = size(t.shape.slice(0, axis));
      const inner = size(t.shape.slice(axis + 1));
      const data = new Float64Array(outer * idx.data.length * inner);
      let o = 0;
      for (let i = 0; i < outer; i++) {
        for (const raw of idx.data) {
          const k = raw < 0 ? raw + n : raw;
          if (!(k >= 0 && k < n)) throw new Error(`index ${raw} outside 0..${n - 1}`);
          for (let j = 0; j < inner; j++) data[o++] = t.data[(i * n + k) * inner + j]!;
        }
      }
      return { data, shape: [...t.shape.slice(0, axis), ...idx.shape, ...t.shape.slice(axis + 1)], integer: t.integer };
    }
    case 'Reshape': {
      const t = need(x);
      const target = Array.from(need(ins[1]).data).map((d, i) => (d === 0 && a.int('allowzero', 0) === 0 ? t.shape[i]! : d));
      const free = target.indexOf(-1);
      if (free >= 0) target[free] = t.data.length / size(target.filter((_, i) => i !== free));
      if (size(target) !== t.data.length || target.some((d) => !Number.isInteger(d))) throw new Error(`cannot reshape [${t.shape}] to [${target}]`);
      return { ...t, shape: target };
    }
    case 'Flatten': {
      const t = need(x);
      let axis = a.int('axis', 1);
      if (axis < 0) axis += t.shape.length;
      return { ...t, shape: [size(t.shape.slice(0, axis)), size(t.shape.slice(axis))] };
    }
    case 'Transpose': {
      const t = need(x);
      const perm = a.ints('perm') ?? t.shape.map((_, i) => t.shape.length - 1 - i);
      return transposeValues(t, perm);
    }
    case 'Slice': {
      const t = need(x);
      const rank = t.shape.length;
      const starts = opset >= 10 ? Array.from(need(ins[1]).data) : a.ints('starts') ?? [];
      const ends = opset >= 10 ? Array.from(need(ins[2]).data) : a.ints('ends') ?? [];
      const axes = (opset >= 10 ? (ins[3] ? Array.from(ins[3].data) : undefined) : a.ints('axes')) ?? starts.map((_, i) => i);
      const steps = opset >= 10 && ins[4] ? Array.from(ins[4].data) : starts.map(() => 1);
      const ranges = t.shape.map((d) => ({ start: 0, step: 1, count: d }));
      axes.forEach((ax0, i) => {
        const ax = ax0 < 0 ? ax0 + rank : ax0;
        const d = t.shape[ax]!;
        const step = steps[i]!;
        if (step === 0 || Number.isNaN(step)) throw new Error('slice step 0');
        const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const s = step > 0 ? clampIdx(starts[i]!, 0, d) : clampIdx(starts[i]!, -1, d - 1);
        const e = step > 0 ? clampIdx(ends[i]!, 0, d) : clampIdx(ends[i]!, -1, d - 1);
        const count = Math.max(0, Math.ceil((e - s) / step));
        ranges[ax] = { start: s, step, count };
      });
      const shape = ranges.map((r) => r.count);
      const strides = stridesOf(t.shape);
      const data = new Float64Array(size(shape));
      const idx = new Array<number>(rank).fill(0);
      for (let o = 0; o < data.length; o++) {
        let off = 0;
        for (let d = 0; d < rank; d++) off += (ranges[d]!.start + idx[d]! * ranges[d]!.step) * strides[d]!;
        data[o] = t.data[off]!;
        for (let d = rank - 1; d >= 0; d--) {
          if (++idx[d]! < shape[d]!) break;
          idx[d] = 0;
        }
      }
      return { data, shape, integer: t.integer };
    }
    case 'ConstantOfShape': {
      const shape = Array.from(need(x).data);
      if (shape.some((d) => Number.isNaN(d))) throw new Error('its shape depends on a dynamic dimension that cannot be resolved');
      const v = a.tensor('value');
      const fill = v ? tensorValues(v) : { data: Float64Array.of(0), shape: [1], integer: false };
      return { data: new Float64Array(size(shape)).fill(fill.data[0] ?? 0), shape, integer: fill.integer };
    }
    case 'Range': {
      const [s, l, d] = [need(ins[0]).data[0]!, need(ins[1]).data[0]!, need(ins[2]).data[0]!];
      const n = Math.max(Math.ceil((l - s) / d), 0);
      return { data: Float64Array.from({ length: n }, (_, i) => s + i * d), shape: [n], integer: need(ins[0]).integer };
    }
    default:
      void node;
      return null;
  }
}

function need(t: TensorValues | undefined): TensorValues {
  if (!t) throw new Error('a required input is missing');
  return t;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let k = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = k;
    k *= shape[i]!;
  }
  return s;
}

/** f(a, b) elementwise with numpy broadcasting. */
export function broadcastValues(a: TensorValues, b: TensorValues, f: (u: number, v: number) => number): TensorValues {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pa = [...new Array<number>(rank - a.shape.length).fill(1), ...a.shape];
  const pb = [...new Array<number>(rank - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => {
    const e = pb[i]!;
    if (d !== e && d !== 1 && e !== 1) throw new Error(`cannot broadcast [${a.shape}] with [${b.shape}]`);
    return d === 1 ? e : d;
  });
  const sa = stridesOf(pa).map((s, i) => (pa[i] === 1 ? 0 : s));
  const sb = stridesOf(pb).map((s, i) => (pb[i] === 1 ? 0 : s));
  const data = new Float64Array(size(shape));
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < data.length; o++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      ia += idx[d]! * sa[d]!;
      ib += idx[d]! * sb[d]!;
    }
    data[o] = f(a.data[ia]!, b.data[ib]!);
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { data, shape, integer: a.integer && b.integer };
}

function transposeValues(t: TensorValues, perm: number[]): TensorValues {
  const shape = perm.map((p) => t.shape[p]!);
  const inStrides = stridesOf(t.shape);
  const ps = perm.map((p) => inStrides[p]!);
  const data = new Float64Array(t.data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    let off = 0;
    for (let d = 0; d < shape.length; d++) off += idx[d]! * ps[d]!;
    data[o] = t.data[off]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { data, shape, integer: t.integer };
}
