import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { UapError } from '../../errors.js';

/**
 * The ONNX protobuf schema (onnx/onnx.proto, via onnx-proto's protobufjs classes), and the few helpers the
 * importer (src/models/loaders/onnx.ts) and the exporter share: decoding a file with errors that name it,
 * tensors ↔ typed arrays, attributes by name. Browser-safe (protobufjs, no Node APIs).
 */
export const onnx = onnxProto.onnx;
export type ModelProto = OnnxTypes.IModelProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type AttributeProto = OnnxTypes.IAttributeProto;

/** TensorProto.DataType (onnx.proto). */
export const DataType = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13,
} as const;
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k]));
export function dataTypeName(t: number | null | undefined): string {
  return TYPE_NAMES[t ?? 0] ?? String(t);
}
/** TensorProto.DataLocation.EXTERNAL */
const EXTERNAL = 1;

/** protobufjs gives int64 fields as numbers or Long objects (when the `long` package is present). */
type Int64 = number | { toNumber(): number };

export function int64(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/**
 * Decodes an .onnx file. A truncated or random file makes protobufjs read past the end or meet an invalid
 * wire type; both become one BAD_MODEL line naming the file. The reader never allocates more than the file
 * holds (lengths are checked against the buffer), so this is bounded in time and memory.
 */
export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  let m: ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes) as ModelProto;
  } catch (e) {
    throw new UapError('BAD_MODEL', `not an ONNX model, or a truncated one (${(e as Error).message})`, source);
  }
  if (!m.graph || (m.graph.node?.length ?? 0) === 0) throw new UapError('BAD_MODEL', 'not an ONNX model (no graph nodes)', source);
  return m;
}

/** The default-domain opset the model imports (0 when it says none). */
export function opsetVersion(m: ModelProto): number {
  const d = (m.opsetImport ?? []).find((o: { domain?: string | null }) => !o.domain || o.domain === 'ai.onnx');
  return d ? int64(d.version) : 0;
}

/** A tensor's values as a float array (int64 beyond 2^53 loses precision, as for Slice's "to the end" sentinel). */
export interface TensorValues {
  data: Float32Array | Float64Array;
  shape: number[];
  /** An integer or boolean type (Div truncates, Cast rounds toward zero). */
  integer: boolean;
}

const BYTES: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4, [DataType.DOUBLE]: 8, [DataType.FLOAT16]: 2, [DataType.INT64]: 8, [DataType.INT32]: 4,
  [DataType.INT16]: 2, [DataType.INT8]: 1, [DataType.UINT8]: 1, [DataType.UINT16]: 2, [DataType.UINT32]: 4,
  [DataType.UINT64]: 8, [DataType.BOOL]: 1,
};

/** TensorProto → values. Throws a plain Error (the caller names the tensor and the file). */
export function tensorValues(t: TensorProto): TensorValues {
  const shape = (t.dims ?? []).map(int64);
  const n = shape.reduce((a, b) => a * b, 1);
  const type = t.dataType ?? 0;
  if (t.dataLocation === EXTERNAL) throw new Error('weights in an external data file are not supported');
  const bytes = BYTES[type];
  if (bytes === undefined) throw new Error(`data type ${dataTypeName(type)} is not supported`);
  const integer = type !== DataType.FLOAT && type !== DataType.DOUBLE && type !== DataType.FLOAT16;
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== n * bytes) throw new Error(`${raw.length} bytes of data for shape [${shape}]`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (type === DataType.FLOAT) {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return { data: out, shape, integer };
    }
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      switch (type) {
        case DataType.DOUBLE: out[i] = view.getFloat64(8 * i, true); break;
        case DataType.FLOAT16: out[i] = half(view.getUint16(2 * i, true)); break;
        case DataType.INT64: out[i] = Number(view.getBigInt64(8 * i, true)); break;
        case DataType.UINT64: out[i] = Number(view.getBigUint64(8 * i, true)); break;
        case DataType.INT32: out[i] = view.getInt32(4 * i, true); break;
        case DataType.UINT32: out[i] = view.getUint32(4 * i, true); break;
        case DataType.INT16: out[i] = view.getInt16(2 * i, true); break;
        case DataType.UINT16: out[i] = view.getUint16(2 * i, true); break;
        case DataType.INT8: out[i] = view.getInt8(i); break;
        default: out[i] = view.getUint8(i); // UINT8, BOOL
      }
    }
    return { data: out, shape, integer };
  }
  const typed: ArrayLike<Int64> | undefined =
    type === DataType.FLOAT ? t.floatData ?? undefined
    : type === DataType.DOUBLE ? t.doubleData ?? undefined
    : type === DataType.INT64 ? t.int64Data ?? undefined
    : type === DataType.UINT64 || type === DataType.UINT32 ? (t as { uint64Data?: Int64[] }).uint64Data ?? undefined
    : t.int32Data ?? undefined; // int32, int16, int8, uint16, uint8, bool, float16 (bits)
  const values = typed ?? [];
  if (values.length !== n) throw new Error(`${values.length} values for shape [${shape}]`);
  const out = type === DataType.FLOAT ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = int64(values[i]);
    out[i] = type === DataType.FLOAT16 ? half(v) : v;
  }
  return { data: out, shape, integer };
}

function half(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const f = bits & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** A float32 TensorProto (raw little-endian data), for exporters and test fixtures. */
export function floatTensor(name: string, shape: number[], data: ArrayLike<number>): TensorProto {
  const f = Float32Array.from(data);
  if (f.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`tensor ${name}: ${f.length} values for shape [${shape}]`);
  return onnx.TensorProto.create({ name, dims: shape, dataType: DataType.FLOAT, rawData: new Uint8Array(f.buffer) });
}

/** An int64 TensorProto (shapes, pads, axes). */
export function int64Tensor(name: string, shape: number[], data: ArrayLike<number>): TensorProto {
  const b = BigInt64Array.from(Array.from(data, (v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims: shape, dataType: DataType.INT64, rawData: new Uint8Array(b.buffer) });
}

/** Attribute lookup by name, with its type checked loosely (protobufjs fills defaults for absent fields). */
export class Attributes {
  private readonly byName = new Map<string, AttributeProto>();

  constructor(node: NodeProto) {
    for (const a of node.attribute ?? []) if (a.name) this.byName.set(a.name, a);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  int(name: string, d: number): number {
    const a = this.byName.get(name);
    return a ? int64(a.i) : d;
  }

  float(name: string, d: number): number {
    const a = this.byName.get(name);
    return a ? (a.f ?? d) : d;
  }

  ints(name: string): number[] | undefined {
    const a = this.byName.get(name);
    return a ? (a.ints ?? []).map(int64) : undefined;
  }

  floats(name: string): number[] | undefined {
    const a = this.byName.get(name);
    return a ? [...(a.floats ?? [])] : undefined;
  }

  string(name: string, d: string): string {
    const a = this.byName.get(name);
    return a?.s ? new TextDecoder().decode(a.s) : d;
  }

  tensor(name: string): TensorProto | undefined {
    return this.byName.get(name)?.t ?? undefined;
  }
}
