import * as flatbuffers from 'flatbuffers';
import { UapError } from '../../errors.js';
import type { Activation } from '../net/ir.js';
import { RawGraph, float16ToFloat32, raw, resolveShape, transpose, type LoadedNet, type Preprocessing, type RawTensor } from './common.js';

/**
 * TFLite flatbuffer → Net. Reads the TFLite schema (tensorflow/lite/schema/schema.fbs) with the
 * flatbuffers runtime: model.operator_codes, model.buffers, subgraph 0's tensors and operators.
 * Quantised weights are dequantised (real = scale × (q − zero_point), per tensor or per channel along
 * quantized_dimension) and the network is rebuilt from float ops, so gradients can flow through it.
 * A quantised uint8/int8 input's (scale, zero_point) becomes the net's preprocessing scaleShift.
 */

// --- schema: field slots (vtable index) of the tables used ------------------------------------------
const Model = { operator_codes: 1, subgraphs: 2, buffers: 4 } as const;
const OperatorCode = { deprecated_builtin_code: 0, custom_code: 1, builtin_code: 3 } as const;
const SubGraph = { tensors: 0, inputs: 1, outputs: 2, operators: 3 } as const;
const Tensor = { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4 } as const;
const Quant = { scale: 2, zero_point: 3, quantized_dimension: 6 } as const;
const Operator = { opcode_index: 0, inputs: 1, outputs: 2, builtin_options: 4 } as const;
const Buffer = { data: 0, offset: 1, size: 2 } as const;

/** TensorType enum */
const TT = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4, INT16: 7, INT8: 9, FLOAT64: 10 } as const;

/** BuiltinOperator enum, for the ops mapped here and for naming the others in errors. */
export const BUILTIN_OPS: readonly string[] = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE', 'DEQUANTIZE',
  'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP', 'L2_NORMALIZATION', 'L2_POOL_2D',
  'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION', 'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU',
  'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR', 'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH',
  'CONCAT_EMBEDDINGS', 'SKIP_GRAM', 'CALL', 'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD',
  'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER', 'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB',
  'DIV', 'SQUEEZE', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP',
  'TOPK_V2', 'SPLIT', 'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM',
  'ARG_MAX', 'MINIMUM', 'LESS', 'NEG', 'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL', 'SELECT', 'SLICE',
  'SIN', 'TRANSPOSE_CONV', 'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL', 'NOT_EQUAL', 'LOG', 'SUM', 'SQRT',
  'RSQRT', 'SHAPE', 'POW', 'ARG_MIN', 'FAKE_QUANT', 'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR',
  'ONE_HOT', 'LOGICAL_AND', 'LOGICAL_NOT', 'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE',
  'ZEROS_LIKE', 'FILL', 'FLOOR_MOD', 'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE',
  'MIRROR_PAD', 'ABS', 'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE', 'RANK',
  'ELU', 'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE', 'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF', 'WHILE',
  'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2', 'DENSIFY', 'SEGMENT_SUM',
  'BATCH_MATMUL',
];
const OP = Object.fromEntries(BUILTIN_OPS.map((n, i) => [n, i])) as Record<string, number>;

class Corrupt extends Error {}

/** A bounds-checked view of one flatbuffer table. */
class Table {
  constructor(
    private readonly bb: flatbuffers.ByteBuffer,
    readonly pos: number,
  ) {
    const n = bb.capacity();
    if (pos < 0 || pos + 4 > n) throw new Corrupt(`table at ${pos} outside the file`);
    const vt = pos - bb.readInt32(pos);
    if (vt < 0 || vt + 4 > n || vt + bb.readInt16(vt) > n) throw new Corrupt(`vtable of table at ${pos} outside the file`);
  }

  private field(slot: number, size: number): number {
    const o = this.bb.__offset(this.pos, 4 + 2 * slot);
    if (o === 0) return 0;
    if (this.pos + o + size > this.bb.capacity()) throw new Corrupt(`field outside the file`);
    return this.pos + o;
  }

  has(slot: number): boolean {
    return this.field(slot, 0) !== 0;
  }

  int8(slot: number, dflt = 0): number {
    const p = this.field(slot, 1);
    return p ? this.bb.readInt8(p) : dflt;
  }
  int32(slot: number, dflt = 0): number {
    const p = this.field(slot, 4);
    return p ? this.bb.readInt32(p) : dflt;
  }
  uint32(slot: number, dflt = 0): number {
    const p = this.field(slot, 4);
    return p ? this.bb.readUint32(p) : dflt;
  }
  uint64(slot: number, dflt = 0): number {
    const p = this.field(slot, 8);
    return p ? Number(this.bb.readUint64(p)) : dflt;
  }
  float32(slot: number, dflt = 0): number {
    const p = this.field(slot, 4);
    return p ? this.bb.readFloat32(p) : dflt;
  }
  bool(slot: number, dflt = false): boolean {
    const p = this.field(slot, 1);
    return p ? this.bb.readInt8(p) !== 0 : dflt;
  }
  table(slot: number): Table | null {
    const p = this.field(slot, 4);
    return p ? new Table(this.bb, this.bb.__indirect(p)) : null;
  }
  string(slot: number): string | null {
    const p = this.field(slot, 4);
    if (!p) return null;
    const s = this.bb.__indirect(p);
    this.checkVector(s, 1);
    return this.bb.__string(p) as string;
  }

  private checkVector(start: number, elem: number): number {
    if (start < 0 || start + 4 > this.bb.capacity()) throw new Corrupt('vector outside the file');
    const len = this.bb.readUint32(start);
    if (start + 4 + len * elem > this.bb.capacity()) throw new Corrupt('vector runs past the end of the file');
    return len;
  }

  /** [start of the elements, length] of a vector field, or null when absent. */
  vector(slot: number, elem: number): [number, number] | null {
    const p = this.field(slot, 4);
    if (!p) return null;
    const v = p + this.bb.readUint32(p);
    const len = this.checkVector(v, elem);
    return [v + 4, len];
  }

  ints(slot: number): number[] {
    const v = this.vector(slot, 4);
    if (!v) return [];
    return Array.from({ length: v[1] }, (_, i) => this.bb.readInt32(v[0] + 4 * i));
  }
  floats(slot: number): number[] {
    const v = this.vector(slot, 4);
    if (!v) return [];
    return Array.from({ length: v[1] }, (_, i) => this.bb.readFloat32(v[0] + 4 * i));
  }
  longs(slot: number): number[] {
    const v = this.vector(slot, 8);
    if (!v) return [];
    return Array.from({ length: v[1] }, (_, i) => Number(this.bb.readInt64(v[0] + 8 * i)));
  }
  bytes(slot: number): Uint8Array {
    const v = this.vector(slot, 1);
    if (!v) return new Uint8Array(0);
    return this.bb.bytes().subarray(v[0], v[0] + v[1]);
  }
  tables(slot: number): Table[] {
    const v = this.vector(slot, 4);
    if (!v) return [];
    return Array.from({ length: v[1] }, (_, i) => new Table(this.bb, this.bb.__indirect(v[0] + 4 * i)));
  }
}

interface TensorInfo {
  name: string;
  shape: number[];
  type: number;
  data: Uint8Array;
  scale: number[];
  zeroPoint: number[];
  qdim: number;
}

export interface TfliteToNetOptions {
  source: string;
  /** Pixels → input for float-input models (quantised inputs take it from the file). Default p/127.5 − 1. */
  preprocessing?: Preprocessing;
}

function actOf(code: number, op: string, src: string): Activation {
  switch (code) {
    case 0:
      return 'linear';
    case 1:
      return 'relu';
    case 3:
      return 'relu6';
    default:
      throw new UapError('BAD_MODEL', `${op}: fused activation ${['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH', 'SIGN_BIT'][code] ?? code} unsupported`, src);
  }
}

export function tfliteToNet(bytes: Uint8Array, opts: TfliteToNetOptions): LoadedNet {
  const src = opts.source;
  try {
    // a plain Uint8Array view (Node Buffers' slice() does not copy)
    return convert(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), opts);
  } catch (e) {
    if (e instanceof UapError) throw e;
    if (e instanceof Corrupt || e instanceof RangeError || e instanceof TypeError) {
      throw new UapError('BAD_MODEL', `corrupt or truncated TFLite file (${(e as Error).message})`, src);
    }
    throw e;
  }
}

function convert(bytes: Uint8Array, opts: TfliteToNetOptions): LoadedNet {
  const src = opts.source;
  const bad = (m: string) => new UapError('BAD_MODEL', m, src);
  if (bytes.length < 16) throw bad('not a TFLite file (too short)');
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (bb.__has_identifier('TFL3') === false) throw bad('not a TFLite file (no TFL3 identifier)');
  const model = new Table(bb, bb.readUint32(0));

  const codes = model.tables(Model.operator_codes).map((c) => {
    const code = Math.max(c.int8(OperatorCode.deprecated_builtin_code), c.int32(OperatorCode.builtin_code));
    const custom = c.string(OperatorCode.custom_code);
    return { code, name: code === OP.CUSTOM ? `CUSTOM(${custom ?? '?'})` : BUILTIN_OPS[code] ?? `BUILTIN_${code}` };
  });
  const buffers = model.tables(Model.buffers);
  const subgraphs = model.tables(Model.subgraphs);
  if (subgraphs.length === 0) throw bad('the model has no subgraph');
  const sg = subgraphs[0]!;

  const tensors: TensorInfo[] = sg.tables(SubGraph.tensors).map((t) => {
    const bi = t.uint32(Tensor.buffer);
    let data: Uint8Array = new Uint8Array(0);
    if (bi > 0) {
      const b = buffers[bi];
      if (!b) throw new Corrupt(`tensor refers to buffer ${bi} of ${buffers.length}`);
      data = b.bytes(Buffer.data);
      const off = b.uint64(Buffer.offset);
      if (data.length === 0 && off > 1) {
        const size = b.uint64(Buffer.size);
        if (off + size > bytes.length) throw new Corrupt(`buffer ${bi} runs past the end of the file`);
        data = bytes.subarray(off, off + size);
      }
    }
    const q = t.table(Tensor.quantization);
    return {
      name: t.string(Tensor.name) ?? '?',
      shape: t.ints(Tensor.shape),
      type: t.int8(Tensor.type),
      data,
      scale: q ? q.floats(Quant.scale) : [],
      zeroPoint: q ? q.longs(Quant.zero_point) : [],
      qdim: q ? q.int32(Quant.quantized_dimension) : 0,
    };
  });
  const tensor = (i: number): TensorInfo => {
    const t = tensors[i];
    if (!t) throw new Corrupt(`operator refers to tensor ${i} of ${tensors.length}`);
    return t;
  };

  /** A constant tensor as float (dequantised). */
  const constant = (i: number): RawTensor => {
    const t = tensor(i);
    if (t.data.length === 0) throw bad(`tensor ${t.name} was expected to be a constant`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    const buf = new Uint8Array(t.data); // aligned copy
    let q: ArrayLike<number>;
    const need = (b: number) => {
      if (buf.length !== n * b) throw bad(`tensor ${t.name}: ${buf.length} bytes for shape [${t.shape}]`);
    };
    switch (t.type) {
      case TT.FLOAT32: need(4); q = new Float32Array(buf.buffer); break;
      case TT.FLOAT16: need(2); q = float16ToFloat32(new Uint16Array(buf.buffer)); break;
      case TT.INT32: need(4); q = new Int32Array(buf.buffer); break;
      case TT.UINT8: need(1); q = buf; break;
      case TT.INT8: need(1); q = new Int8Array(buf.buffer); break;
      case TT.INT16: need(2); q = new Int16Array(buf.buffer); break;
      case TT.INT64: need(8); q = Array.from(new BigInt64Array(buf.buffer), Number); break;
      default: throw bad(`tensor ${t.name}: unsupported type ${t.type}`);
    }
    const out = new Float32Array(n);
    if (t.scale.length > 0 && t.type !== TT.FLOAT32 && t.type !== TT.FLOAT16) {
      if (t.scale.length === 1) {
        const s = t.scale[0]!;
        const z = t.zeroPoint[0] ?? 0;
        for (let k = 0; k < n; k++) out[k] = s * (q[k]! - z);
      } else {
        const dim = t.shape[t.qdim];
        if (dim !== t.scale.length) throw bad(`tensor ${t.name}: ${t.scale.length} scales for dimension ${t.qdim} of [${t.shape}]`);
        const stride = t.shape.slice(t.qdim + 1).reduce((a, b) => a * b, 1);
        for (let k = 0; k < n; k++) {
          const c = Math.floor(k / stride) % dim;
          out[k] = t.scale[c]! * (q[k]! - (t.zeroPoint[c] ?? t.zeroPoint[0] ?? 0));
        }
      }
    } else {
      for (let k = 0; k < n; k++) out[k] = q[k]!;
    }
    return raw(out, t.shape.length ? [...t.shape] : [1]);
  };
  const isConst = (i: number) => i >= 0 && tensor(i).data.length > 0;

  // Input and preprocessing.
  const inputs = sg.ints(SubGraph.inputs);
  const outputs = sg.ints(SubGraph.outputs);
  if (inputs.length !== 1 || outputs.length !== 1) throw bad(`expected one input and one output, got ${inputs.length} and ${outputs.length}`);
  const input = tensor(inputs[0]!);
  if (input.shape.length !== 4) throw bad(`input ${input.name} has shape [${input.shape}], expected [1, H, W, C]`);
  const [, H, W, C] = input.shape as [number, number, number, number];
  const g = new RawGraph([H, W, C], src);
  let pre: Preprocessing;
  if (input.type === TT.UINT8 || input.type === TT.INT8) {
    if (input.scale.length !== 1) throw bad(`quantised input ${input.name} has no (scale, zero_point)`);
    // pixels p are the uint8 values q (int8 models: q = p − 128); real = scale × (q − zero_point)
    const s = input.scale[0]!;
    const zp = (input.zeroPoint[0] ?? 0) + (input.type === TT.INT8 ? 128 : 0);
    pre = { scale: s, shift: -s * zp };
  } else if (input.type === TT.FLOAT32) {
    pre = opts.preprocessing ?? { scale: 1 / 127.5, shift: -1 };
  } else {
    throw bad(`input ${input.name} has unsupported type ${input.type}`);
  }
  const node = new Map<number, number>(); // tensor index → raw node id
  node.set(inputs[0]!, g.preprocess(pre));
  const afterSoftmax = new Set<number>();

  for (const [k, op] of sg.tables(SubGraph.operators).entries()) {
    const oc = codes[op.uint32(Operator.opcode_index)];
    if (!oc) throw new Corrupt(`operator ${k} has opcode index outside operator_codes`);
    const name = oc.name;
    const ins = op.ints(Operator.inputs);
    const outs = op.ints(Operator.outputs);
    const opt = op.table(Operator.builtin_options);
    const o = (slot: number, d = 0) => (opt ? opt.int32(slot, d) : d);
    const ob = (slot: number, d = 0) => (opt ? opt.int8(slot, d) : d);
    const out = outs[0]!;
    const outName = tensor(out).name;
    const value = (i: number): number => {
      const id = node.get(i);
      if (id === undefined) throw bad(`${name} ${outName}: input tensor ${tensor(i).name} is not computed by the graph (unsupported constant input?)`);
      if (afterSoftmax.has(i) && name !== 'RESHAPE' && name !== 'SQUEEZE' && name !== 'DEQUANTIZE' && name !== 'QUANTIZE') {
        throw bad(`${name} ${outName} follows a softmax: only reshapes may follow it`);
      }
      return id;
    };
    const set = (id: number, soft = false) => {
      node.set(out, id);
      if (soft || ins.some((i) => afterSoftmax.has(i))) afterSoftmax.add(out);
    };
    const perExample = (i: number) => g.shape(value(i));
    switch (oc.code) {
      case OP.CONV_2D: {
        const f = constant(ins[1]!); // [outC, kh, kw, inC]
        const filter = transpose(f, [1, 2, 3, 0]);
        const bias = ins[2] !== undefined && ins[2] >= 0 ? constant(ins[2]) : undefined;
        const id = g.add(outName, {
          kind: 'conv2d', filter, bias, pad: ob(0) === 0 ? 'same' : 'valid', strides: [o(2, 1), o(1, 1)],
          dilations: [o(5, 1), o(4, 1)], activation: actOf(ob(3), name, src),
        }, value(ins[0]!));
        set(id);
        break;
      }
      case OP.DEPTHWISE_CONV_2D: {
        const f = constant(ins[1]!); // [1, kh, kw, C * mult]
        const c = perExample(ins[0]!)[2]!;
        const [, kh, kw, cm] = f.shape as [number, number, number, number];
        if (cm % c !== 0) throw bad(`${name} ${outName}: filter has ${cm} channels for ${c} inputs`);
        const filter = raw(f.data, [kh, kw, c, cm / c]);
        const bias = ins[2] !== undefined && ins[2] >= 0 ? constant(ins[2]) : undefined;
        const id = g.add(outName, {
          kind: 'depthwiseConv2d', filter, bias, pad: ob(0) === 0 ? 'same' : 'valid', strides: [o(2, 1), o(1, 1)],
          dilations: [o(6, 1), o(5, 1)], activation: actOf(ob(4), name, src),
        }, value(ins[0]!));
        set(id);
        break;
      }
      case OP.AVERAGE_POOL_2D:
      case OP.MAX_POOL_2D: {
        const id = g.add(outName, {
          kind: oc.code === OP.MAX_POOL_2D ? 'maxPool' : 'avgPool', pad: ob(0) === 0 ? 'same' : 'valid',
          strides: [o(2, 1), o(1, 1)], size: [o(4, 1), o(3, 1)],
        }, value(ins[0]!));
        set(g.activation(`${outName}/act`, id, actOf(ob(5), name, src)));
        break;
      }
      case OP.ADD:
      case OP.SUB:
      case OP.MUL: {
        const act = actOf(ob(0), name, src);
        let id: number;
        const [a, b] = [ins[0]!, ins[1]!];
        if (isConst(a) || isConst(b)) {
          const cIdx = isConst(b) ? b : a;
          const x = value(isConst(b) ? a : b);
          const cv = constant(cIdx).data;
          const ch = g.shape(x).at(-1)!;
          if (cv.length !== 1 && cv.length !== ch) throw bad(`${name} ${outName}: constant of ${cv.length} values unsupported`);
          const one = new Float32Array(cv.length).fill(1);
          const zero = new Float32Array(cv.length);
          if (oc.code === OP.MUL) id = g.scaleShift(outName, x, cv, zero);
          else if (oc.code === OP.ADD) id = g.scaleShift(outName, x, one, cv);
          else if (cIdx === b) id = g.scaleShift(outName, x, one, cv.map((v) => -v));
          else id = g.scaleShift(outName, x, one.map(() => -1), cv);
        } else if (oc.code === OP.ADD) {
          id = g.add(outName, { kind: 'add' }, [value(a), value(b)]);
        } else {
          throw bad(`${name} ${outName}: ${name} of two computed tensors unsupported`);
        }
        set(g.activation(`${outName}/act`, id, act));
        break;
      }
      case OP.CONCATENATION: {
        const rank = tensor(out).shape.length || 4;
        const axis = o(0);
        if (axis !== -1 && axis !== rank - 1) throw bad(`${name} ${outName}: concatenation along axis ${axis} unsupported`);
        const id = g.add(outName, { kind: 'concat' }, ins.map(value));
        set(g.activation(`${outName}/act`, id, actOf(ob(1), name, src)));
        break;
      }
      case OP.RESHAPE:
      case OP.SQUEEZE: {
        const x = value(ins[0]!);
        const size = g.shape(x).reduce((p, q) => p * q, 1);
        let target: number[];
        if (oc.code === OP.RESHAPE) {
          const fromOpt = opt ? opt.ints(0) : [];
          target = ins[1] !== undefined && ins[1] >= 0 && isConst(ins[1]) ? Array.from(constant(ins[1]).data) : fromOpt.length ? fromOpt : tensor(out).shape;
        } else {
          target = tensor(out).shape;
          if (target.length === 0) {
            const full = [1, ...g.shape(x)];
            const dims = opt ? opt.ints(0).map((d) => (d < 0 ? d + full.length : d)) : [];
            target = full.filter((d, i) => (dims.length ? !dims.includes(i) : d !== 1 || i === 0));
          }
        }
        // drop the batch axis
        const rest = target.length > 0 && (target[0] === 1 || target[0] === -1) ? target.slice(1) : target;
        const shape = resolveShape(rest.length ? rest : [size], size, `${src}: ${outName}`);
        set(shape.join() === g.shape(x).join() ? x : g.add(outName, { kind: 'reshape', shape }, x));
        break;
      }
      case OP.SOFTMAX:
        set(value(ins[0]!), true);
        break;
      case OP.FULLY_CONNECTED: {
        let x = value(ins[0]!);
        const w = constant(ins[1]!); // [out, in]
        if (g.shape(x).length !== 1) x = g.add(`${outName}/flatten`, { kind: 'reshape', shape: [w.shape[1]!] }, x);
        const bias = ins[2] !== undefined && ins[2] >= 0 ? constant(ins[2]) : undefined;
        set(g.add(outName, { kind: 'dense', kernel: transpose(w, [1, 0]), bias, activation: actOf(ob(0), name, src) }, x));
        break;
      }
      case OP.PAD:
      case OP.PADV2: {
        const p = Array.from(constant(ins[1]!).data);
        if (p.length !== 8 || p[0] || p[1] || p[6] || p[7]) throw bad(`${name} ${outName}: only padding of height and width is supported`);
        if (oc.code === OP.PADV2 && ins[2] !== undefined && ins[2] >= 0 && constant(ins[2]).data.some((v) => v !== 0)) {
          throw bad(`${name} ${outName}: non-zero pad value unsupported`);
        }
        set(g.add(outName, { kind: 'pad', paddings: [[p[2]!, p[3]!], [p[4]!, p[5]!]] }, value(ins[0]!)));
        break;
      }
      case OP.MEAN: {
        const axes = Array.from(constant(ins[1]!).data).map((a) => (a < 0 ? a + 4 : a)).sort();
        if (axes.join() !== '1,2') throw bad(`${name} ${outName}: mean over axes [${axes}] unsupported (spatial mean only)`);
        let id = g.add(outName, { kind: 'globalAvgPool' }, value(ins[0]!));
        if (opt && opt.bool(0)) id = g.add(`${outName}/keepdims`, { kind: 'reshape', shape: [1, 1, g.shape(id)[0]!] }, id);
        set(id);
        break;
      }
      case OP.RELU:
        set(g.activation(outName, value(ins[0]!), 'relu'));
        break;
      case OP.RELU6:
        set(g.activation(outName, value(ins[0]!), 'relu6'));
        break;
      case OP.LEAKY_RELU:
        set(g.activation(outName, value(ins[0]!), { leakyAlpha: opt ? opt.float32(0) : 0 }));
        break;
      case OP.QUANTIZE:
      case OP.DEQUANTIZE:
        if (isConst(ins[0]!)) break; // constants are dequantised where they are used
        set(value(ins[0]!));
        break;
      default:
        throw bad(`unsupported TFLite op ${name} (operator ${k}, output ${outName})`);
    }
    // A dequantised constant feeding later ops.
    if ((oc.code === OP.DEQUANTIZE || oc.code === OP.QUANTIZE) && isConst(ins[0]!)) {
      tensors[out] = { ...tensor(ins[0]!), name: outName };
    }
  }
  const outId = node.get(outputs[0]!);
  if (outId === undefined) throw bad(`output tensor ${tensor(outputs[0]!).name} is not computed`);
  return g.build(outId);
}
