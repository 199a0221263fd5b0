import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * A small writer of ONNX graphs (opset 17, static shapes, float32 tensors), on top of onnx-proto's
 * protobuf messages. Names are generated, so the exporter only says which op consumes what.
 * Browser-safe: no Node APIs; `toBytes()` is the serialised ModelProto that ONNX Runtime loads.
 */

export const OPSET = 17;

type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

const DT = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;
const AT = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, v: AttrValue): OnnxTypes.IAttributeProto {
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return { name, type: AT.INT, i: v };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  return { name, type: AT.FLOATS, floats: v.floats };
}

function valueInfo(name: string, dims: number[], elemType: number): OnnxTypes.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

export class OnnxGraph {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly inits: OnnxTypes.ITensorProto[] = [];
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly scalars = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  /** Adds a node; returns its output names (`outputs` of them, default 1). */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint = opType, outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(hint));
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name: this.fresh(`n_${hint}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** A node with one output. */
  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint = opType): string {
    return this.op(opType, inputs, attrs, hint, 1)[0]!;
  }

  /** A float32 initializer. */
  floats(data: Float32Array, dims: number[], hint = 'w'): string {
    const name = this.fresh(hint);
    this.inits.push({ name, dataType: DT.FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** An int64 initializer (shapes, indices, split sizes). */
  ints(data: readonly number[], dims: number[] = [data.length], hint = 'i'): string {
    const name = this.fresh(hint);
    const raw = new BigInt64Array(data.map((v) => BigInt(v)));
    this.inits.push({ name, dataType: DT.INT64, dims, rawData: new Uint8Array(raw.buffer) });
    return name;
  }

  /** A shared float scalar constant (rank 0). */
  scalar(v: number): string {
    const key = String(v);
    let name = this.scalars.get(key);
    if (!name) {
      name = this.floats(new Float32Array([v]), [], 's');
      this.scalars.set(key, name);
    }
    return name;
  }

  input(name: string, dims: number[], type: 'float' | 'int64' = 'float'): string {
    this.inputs.push(valueInfo(name, dims, type === 'float' ? DT.FLOAT : DT.INT64));
    return name;
  }

  /** Marks `value` as a graph output called `name` (an Identity node renames it). */
  output(value: string, name: string, dims: number[], type: 'float' | 'int64' = 'float'): void {
    this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.fresh('n_out') });
    this.outputs.push(valueInfo(name, dims, type === 'float' ? DT.FLOAT : DT.INT64));
  }

  /** Reshape to fixed dims. */
  reshape(x: string, dims: number[]): string {
    return this.op1('Reshape', [x, this.ints(dims)], {}, 'reshape');
  }

  transpose(x: string, perm: number[]): string {
    return this.op1('Transpose', [x], { perm }, 'transpose');
  }

  toBytes(): Uint8Array {
    const model: OnnxTypes.IModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'uap',
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

export const BOOL_TO_FLOAT = { to: DT.FLOAT } as const;
