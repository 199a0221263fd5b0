import { UapError } from '../../errors.js';
import type { ModelFolder } from '../model-io.js';
import type { Activation, Padding } from '../net/ir.js';
import { Attributes, DataType, dataTypeName, decodeModel, int64, opsetVersion, tensorValues, type ModelProto, type NodeProto, type TensorProto, type TensorValues } from '../onnx/proto.js';
import { RawGraph, raw, transpose, type LoadedNet, type Preprocessing, type RawTensor } from './common.js';
import { foldConstant } from './onnx-fold.js';
import { applyLabels, metadataSettings, parseSettings, readSidecar, TORCHVISION_PREPROCESSING, type OnnxInputOptions, type OnnxLayout, type OnnxLoaded, type OnnxSettings } from './onnx-settings.js';

export type { OnnxInputOptions, OnnxLayout, OnnxLoaded } from './onnx-settings.js';

/**
 * ONNX classifier (as PyTorch's exporter writes it) → Net.
 *
 * ONNX is NCHW, the Net is NHWC. Every computed tensor keeps its Net value (always [H, W, C] or [K]) and
 * the ONNX *view* of it: 'nchw' (the ONNX tensor is [N, C, H, W]), 'nhwc' (tf2onnx-style inputs, until
 * their Transpose to NCHW) or 'flat' ([N, K]). A Transpose between the two image views costs nothing; a
 * Flatten of an NCHW value with H·W > 1 becomes a reshape plus a gatherOutputs that puts the HWC-ordered
 * values into ONNX's CHW order, so a following Gemm sees its features where its weights expect them.
 * Weights are converted once: Conv OIHW → HWIO, depthwise (group = C) [C·M, 1, kh, kw] → [kh, kw, C, M],
 * Gemm/MatMul → dense [in, out]; BatchNormalization and constant Mul/Add/Sub/Div become scaleShifts that
 * RawGraph folds into the preceding conv (or into the preprocessing).
 *
 * Shape arithmetic. Exporters compute paddings and reshape targets at run time from Shape(x) (PyTorch's
 * F.pad writes ~20 ops per Pad). Every value that does not depend on the pixels is folded here, in
 * onnx-fold.ts; the batch size is the one unknown (NaN), so a padding or reshape that depends on it, or on
 * any other dynamic dimension, is refused by name.
 *
 * What the file does not say. Layout, input size, preprocessing and labels come, in this order, from
 * metadata_props (keys `layout`, `inputSize`, `preprocessing`, `labels`), from the graph itself (a static
 * input shape; Div/Sub/Mul/Add by constants right after the input mean the graph takes pixels 0..255 and
 * preprocesses them itself), from the caller (flags), from a sidecar `<file>.json` with the same keys,
 * and last from PyTorch's conventions (NCHW; torchvision's ImageNet normalisation of p / 255); see onnx-settings.ts.
 */

export interface OnnxToNetOptions extends OnnxInputOptions {
  source: string;
  preprocessing?: Preprocessing;
  /** The sidecar JSON's contents (already parsed), if any. */
  sidecar?: unknown;
}

/** Reads `file` and its sidecar `<file>.json` (when present) from a model folder and converts it. */
export async function onnxFileToNet(
  folder: ModelFolder,
  file: string,
  opts: { source: string; preprocessing?: Preprocessing; onnx?: OnnxInputOptions },
): Promise<OnnxLoaded> {
  const bytes = await folder.read(file);
  const sidecar = await readSidecar(folder, file, opts.source);
  return onnxToNet(bytes, { source: opts.source, preprocessing: opts.preprocessing, sidecar, ...opts.onnx });
}

export function onnxToNet(bytes: Uint8Array, opts: OnnxToNetOptions): OnnxLoaded {
  const model = decodeModel(bytes, opts.source);
  const meta = metadataSettings(model, opts.source);
  const side = opts.sidecar === undefined ? {} : parseSettings(opts.sidecar, `${opts.source}.json`);
  try {
    return new Converter(model, opts, meta, side).run();
  } catch (e) {
    if (e instanceof UapError) throw e;
    throw new UapError('BAD_MODEL', `cannot convert (${(e as Error).message})`, opts.source);
  }
}

/** A value the pixels do not influence (folded), or one computed by the net. */
type Val = { kind: 'const'; t: TensorValues } | Comp;
interface Comp {
  kind: 'value';
  /** RawGraph node id. */
  id: number;
  view: 'nchw' | 'nhwc' | 'flat';
  /** Known to be ≥ 0 (after relu): zero padding then equals max pooling's −∞ padding. */
  nonneg?: boolean;
  /** Comes after the final softmax: only reshapes may follow. */
  afterSoftmax?: boolean;
}

const RESHAPES = new Set(['Flatten', 'Reshape', 'Squeeze', 'Identity', 'Softmax', 'LogSoftmax', 'Dropout']);

class Converter {
  private readonly src: string;
  private readonly g: NonNullable<ModelProto['graph']>;
  private readonly inits = new Map<string, TensorProto>();
  private readonly vals = new Map<string, Val>();
  private readonly consumers = new Map<string, number>();
  /** Pad nodes (RawGraph id) that a following Conv or pool may absorb: their input and paddings. */
  private readonly pads = new Map<number, { input: number; paddings: [[number, number], [number, number]] }>();
  private readonly opset: number;
  private raw!: RawGraph;
  private staticBatch = NaN;

  constructor(
    private readonly model: ModelProto,
    private readonly opts: OnnxToNetOptions,
    private readonly meta: OnnxSettings,
    private readonly side: OnnxSettings,
  ) {
    this.src = opts.source;
    this.g = model.graph!;
    this.opset = opsetVersion(model);
    for (const t of this.g.initializer ?? []) if (t.name) this.inits.set(t.name, t);
    for (const n of this.g.node ?? []) for (const i of n.input ?? []) if (i) this.consumers.set(i, (this.consumers.get(i) ?? 0) + 1);
    for (const o of this.g.output ?? []) if (o.name) this.consumers.set(o.name, (this.consumers.get(o.name) ?? 0) + 1);
  }

  private bad(message: string): UapError {
    return new UapError('BAD_MODEL', message, this.src);
  }

  run(): OnnxLoaded {
    const { id, view } = this.input();
    this.vals.set(this.inputName, { kind: 'value', id, view });
    for (const node of this.g.node ?? []) this.convertNode(node);

    const outs = this.g.output ?? [];
    if (outs.length !== 1) throw this.bad(`expected one output (the logits), the graph has ${outs.length}`);
    const out = this.vals.get(outs[0]!.name ?? '');
    if (!out) throw this.bad(`output ${outs[0]!.name} is not computed by the graph`);
    if (out.kind !== 'value') throw this.bad(`output ${outs[0]!.name} does not depend on the input`);
    const shape = this.onnxShape(out);
    if (!(out.view === 'flat' || (shape[1] === 1 && shape[2] === 1))) {
      throw this.bad(`output ${outs[0]!.name} is [batch, ${shape.join(', ')}], expected [batch, classes]`);
    }
    return applyLabels(this.raw.build(out.id), this.meta.labels ?? this.side.labels, this.src);
  }

  private inputName = '';

  /** The image input: layout, size, preprocessing. */
  private input(): { id: number; view: 'nchw' | 'nhwc' } {
    const inputs = (this.g.input ?? []).filter((i) => i.name && !this.inits.has(i.name));
    if (inputs.length !== 1) throw this.bad(`expected one image input, the graph has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
    const inp = inputs[0]!;
    this.inputName = inp.name!;
    const tt = inp.type?.tensorType;
    if (!tt) throw this.bad(`input ${inp.name} is not a tensor`);
    if (tt.elemType !== DataType.FLOAT) throw this.bad(`input ${inp.name} is ${dataTypeName(tt.elemType)}, expected float32 pixels`);
    const dims = (tt.shape?.dim ?? []).map((d) => {
      const v = d.dimValue === null || d.dimValue === undefined ? 0 : int64(d.dimValue);
      return v > 0 ? { v } : { param: d.dimParam || '?' };
    });
    const show = dims.map((d) => ('v' in d ? d.v : d.param)).join(', ');
    if (dims.length !== 4) {
      throw this.bad(`input ${inp.name} is [${show}] (rank ${dims.length}): an image classifier takes [batch, C, H, W] or [batch, H, W, C]`);
    }
    const known = (i: number) => ('v' in dims[i]! ? (dims[i] as { v: number }).v : undefined);
    const channelsLike = (i: number) => known(i) !== undefined && known(i)! <= 4;
    const said = this.meta.layout ?? this.opts.layout ?? this.side.layout;
    const layout: OnnxLayout = said
      ? (said.toLowerCase() as OnnxLayout)
      : channelsLike(3) && !channelsLike(1)
        ? 'nhwc'
        : 'nchw';
    const [hi, wi, ci] = layout === 'nchw' ? [2, 3, 1] : [1, 2, 3];
    const c = known(ci);
    if (c === undefined) throw this.bad(`input ${inp.name} [${show}]: the channel dimension "${(dims[ci] as { param: string }).param}" is dynamic and cannot be resolved`);
    const sizeSaid = this.meta.inputSize ?? this.opts.inputSize ?? this.side.inputSize;
    const size = sizeSaid === undefined ? undefined : typeof sizeSaid === 'number' ? [sizeSaid, sizeSaid] : sizeSaid;
    const hw = [hi, wi].map((i, j) => {
      const k = known(i);
      if (k !== undefined) {
        if (size && size[j] !== k) throw this.bad(`input ${inp.name} is [${show}]: inputSize ${size.join('×')} contradicts the file`);
        return k;
      }
      if (size) return size[j]!;
      throw this.bad(
        `input ${inp.name} [${show}]: dimension "${(dims[i] as { param: string }).param}" is dynamic and cannot be resolved; give inputSize in ${this.src.split(/[\\/]/).pop()}.json`,
      );
    }) as [number, number];
    this.staticBatch = known(0) ?? NaN;
    this.raw = new RawGraph([hw[0], hw[1], c], this.src);

    const pre = this.meta.preprocessing ?? (this.graphPreprocesses() ? undefined : this.opts.preprocessing ?? this.side.preprocessing ?? (c === 3 ? TORCHVISION_PREPROCESSING : undefined));
    const identity = !pre || (pre.scale === 1 && pre.shift === 0 && !pre.reverseChannels);
    return { id: identity ? 0 : this.raw.preprocess(pre), view: layout };
  }

  /** Does every consumer of the input scale or shift it by a constant (the graph preprocesses pixels itself)? */
  private graphPreprocesses(): boolean {
    const constNames = new Set<string>(this.inits.keys());
    for (const n of this.g.node ?? []) if (n.opType === 'Constant') for (const o of n.output ?? []) constNames.add(o);
    const users = (this.g.node ?? []).filter((n) => (n.input ?? []).includes(this.inputName));
    return (
      users.length > 0 &&
      users.every((n) => ['Mul', 'Div', 'Sub', 'Add'].includes(n.opType ?? '') && (n.input ?? []).some((i) => i !== this.inputName && constNames.has(i)))
    );
  }

  // ---- values ----

  private value(name: string, node: NodeProto): Val {
    const v = this.vals.get(name);
    if (v) return v;
    const t = this.inits.get(name);
    if (t) {
      const c: Val = { kind: 'const', t: this.decode(t, name) };
      this.vals.set(name, c);
      return c;
    }
    throw this.bad(`${node.opType} (node ${nodeName(node)}): input ${name} is not computed before it`);
  }

  private decode(t: TensorProto, name: string): TensorValues {
    try {
      return tensorValues(t);
    } catch (e) {
      throw this.bad(`tensor ${name}: ${(e as Error).message}`);
    }
  }

  private comp(v: Val, node: NodeProto, what = 'its input'): Comp {
    if (v.kind !== 'value') throw this.bad(`${node.opType} (node ${nodeName(node)}): ${what} is a constant; only computed values are supported there`);
    return v;
  }

  private constant(node: NodeProto, i: number, what: string): TensorValues {
    const name = node.input?.[i];
    if (!name) throw this.bad(`${node.opType} (node ${nodeName(node)}): missing ${what}`);
    const v = this.value(name, node);
    if (v.kind !== 'const') throw this.bad(`${node.opType} (node ${nodeName(node)}): ${what} must be a constant (weights computed at run time are unsupported)`);
    return v.t;
  }

  /** Integer values of a constant that must be fully known (paddings, axes, shapes). */
  private known(node: NodeProto, t: TensorValues, what: string): number[] {
    const a = Array.from(t.data);
    if (a.some((v) => Number.isNaN(v))) {
      throw this.bad(`${node.opType} (node ${nodeName(node)}): its ${what} depends on a dynamic dimension that cannot be resolved`);
    }
    return a;
  }

  /** The ONNX shape of a computed value, without the batch axis. */
  private onnxShape(v: Comp): number[] {
    const s = this.raw.shape(v.id);
    if (v.view === 'flat') return s;
    if (s.length !== 3) return s;
    return v.view === 'nchw' ? [s[2]!, s[0]!, s[1]!] : s;
  }

  private set(node: NodeProto, v: Val, i = 0): void {
    const o = node.output?.[i];
    if (o) this.vals.set(o, v);
  }

  private add(node: NodeProto, op: Parameters<RawGraph['add']>[1], input: number | number[], like: Partial<Comp>): Comp {
    const id = this.raw.add(nodeName(node), op, input);
    return { kind: 'value', id, view: like.view ?? 'nchw', nonneg: like.nonneg };
  }

  // ---- nodes ----

  private convertNode(node: NodeProto): void {
    const op = node.opType ?? '';
    const where = `(node ${nodeName(node)})`;
    if (node.domain && node.domain !== 'ai.onnx') throw this.bad(`unsupported ONNX op ${node.domain}.${op} ${where}`);
    const ins = (node.input ?? []).map((n) => (n ? this.value(n, node) : undefined));
    const present = ins.filter((v): v is Val => v !== undefined);
    const a = new Attributes(node);

    if (op === 'Constant') {
      this.set(node, { kind: 'const', t: this.constantAttr(node, a) });
      return;
    }
    if (op === 'Shape') {
      const v = present[0]!;
      const shape = v.kind === 'const' ? v.t.shape : [this.staticBatch, ...this.onnxShape(v)];
      const start = a.int('start', 0);
      const end = a.has('end') ? a.int('end', shape.length) : shape.length;
      const s = shape.slice(start, end);
      this.set(node, { kind: 'const', t: { data: Float64Array.from(s), shape: [s.length], integer: true } });
      return;
    }
    if (present.every((v) => v.kind === 'const')) {
      let folded: TensorValues | null;
      try {
        folded = foldConstant(op, node, ins.map((v) => (v as { t: TensorValues } | undefined)?.t), a, this.opset);
      } catch (e) {
        throw this.bad(`${op} ${where}: ${(e as Error).message}`);
      }
      if (!folded) throw this.bad(`unsupported ONNX op ${op} ${where}`);
      this.set(node, { kind: 'const', t: folded });
      return;
    }

    const first = present.find((v): v is Comp => v.kind === 'value');
    if (first?.afterSoftmax && !RESHAPES.has(op)) throw this.bad(`${op} ${where} follows the softmax: only reshapes may follow it`);

    switch (op) {
      case 'Identity':
      case 'Dropout':
        this.set(node, this.comp(present[0]!, node));
        return;
      case 'Softmax':
      case 'LogSoftmax': {
        // logits are what the attacks need; log-softmax differs from them by a per-image constant
        const x = this.comp(present[0]!, node);
        this.set(node, { ...x, afterSoftmax: true });
        return;
      }
      case 'Conv':
        this.set(node, this.conv(node, a));
        return;
      case 'BatchNormalization': {
        const x = this.comp(present[0]!, node);
        if (a.int('training_mode', 0) !== 0 || (node.output ?? []).filter(Boolean).length > 1) throw this.bad(`BatchNormalization ${where}: training mode is unsupported`);
        const [s, b, m, v] = [1, 2, 3, 4].map((i) => this.constant(node, i, ['', 'scale', 'bias', 'mean', 'variance'][i]!).data);
        const eps = a.float('epsilon', 1e-5);
        const scale = Float32Array.from(s!, (si, c) => si / Math.sqrt(v![c]! + eps));
        const shift = Float32Array.from(b!, (bi, c) => bi - m![c]! * scale[c]!);
        this.checkChannels(node, x, scale.length);
        this.set(node, { ...x, id: this.raw.scaleShift(nodeName(node), x.id, scale, shift), nonneg: false, afterSoftmax: false });
        return;
      }
      case 'Relu':
        this.set(node, this.activation(node, present[0]!, 'relu'));
        return;
      case 'LeakyRelu':
        this.set(node, this.activation(node, present[0]!, { leakyAlpha: a.float('alpha', 0.01) }));
        return;
      case 'PRelu': {
        const slope = this.constant(node, 1, 'slope').data;
        if (slope.length !== 1) throw this.bad(`PRelu ${where}: only a single slope is supported`);
        this.set(node, this.activation(node, present[0]!, { leakyAlpha: slope[0]! }));
        return;
      }
      case 'Clip': {
        const lo = this.opset >= 11 ? (node.input?.[1] ? this.constant(node, 1, 'min').data[0]! : -Infinity) : a.float('min', -Infinity);
        const hi = this.opset >= 11 ? (node.input?.[2] ? this.constant(node, 2, 'max').data[0]! : Infinity) : a.float('max', Infinity);
        if (lo === 0 && hi === 6) this.set(node, this.activation(node, present[0]!, 'relu6'));
        else if (lo === 0 && hi === Infinity) this.set(node, this.activation(node, present[0]!, 'relu'));
        else throw this.bad(`Clip ${where}: only Clip(0, 6) (relu6) and Clip(0) (relu) are supported, got Clip(${lo}, ${hi})`);
        return;
      }
      case 'Pad':
        this.set(node, this.pad(node, a, this.comp(present[0]!, node)));
        return;
      case 'MaxPool':
      case 'AveragePool':
        this.set(node, this.pool(node, a, this.comp(present[0]!, node)));
        return;
      case 'GlobalAveragePool':
      case 'ReduceMean': {
        const x = this.comp(present[0]!, node);
        if (x.view !== 'nchw') throw this.bad(`${op} ${where}: needs an NCHW image input`);
        const keep = a.int('keepdims', 1);
        if (op === 'ReduceMean') {
          const axes = a.ints('axes') ?? (node.input?.[1] ? this.known(node, this.constant(node, 1, 'axes'), 'axes') : []);
          const norm = axes.map((d) => (d < 0 ? d + 4 : d)).sort();
          if (norm.join() !== '2,3') throw this.bad(`ReduceMean ${where}: only the spatial mean (axes 2, 3) is supported, got [${axes}]`);
        }
        const gap = this.add(node, { kind: 'globalAvgPool' }, x.id, { view: 'flat', nonneg: x.nonneg });
        if (op === 'ReduceMean' && keep === 0) {
          this.set(node, gap);
          return;
        }
        const c = this.raw.shape(gap.id)[0]!;
        this.set(node, { ...gap, id: this.raw.add(`${nodeName(node)}/keepdims`, { kind: 'reshape', shape: [1, 1, c] }, gap.id), view: 'nchw' });
        return;
      }
      case 'Flatten': {
        const x = this.comp(present[0]!, node);
        const axis = a.int('axis', 1);
        if (axis !== 1) throw this.bad(`Flatten ${where}: only axis 1 is supported, got ${axis}`);
        this.set(node, this.flatten(node, x));
        return;
      }
      case 'Reshape': {
        // x.view(x.size(0), -1): the target's first entry is the (unknown) batch size itself
        const t = Array.from(this.constant(node, 1, 'target shape').data);
        const rest = this.known(node, { data: Float64Array.from(t.slice(1)), shape: [t.length - 1], integer: true }, 'target shape');
        this.set(node, this.reshape(node, this.comp(present[0]!, node), [Number.isNaN(t[0]) ? 0 : t[0]!, ...rest]));
        return;
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        const x = this.comp(present[0]!, node);
        const axes = a.ints('axes') ?? (node.input?.[1] ? this.known(node, this.constant(node, 1, 'axes'), 'axes') : undefined);
        const s = this.onnxShape(x);
        const rank = s.length + 1 + (op === 'Unsqueeze' ? (axes?.length ?? 0) : 0);
        const norm = (axes ?? []).map((d) => (d < 0 ? d + rank : d)).sort().join();
        if (op === 'Squeeze' && x.view === 'nchw' && s[1] === 1 && s[2] === 1 && (norm === '2,3' || axes === undefined)) {
          this.set(node, this.flatten(node, x));
        } else if (op === 'Unsqueeze' && x.view === 'flat' && norm === '2,3') {
          this.set(node, { ...x, id: this.raw.add(nodeName(node), { kind: 'reshape', shape: [1, 1, s[0]!] }, x.id), view: 'nchw' });
        } else {
          throw this.bad(`${op} ${where}: axes [${axes ?? ''}] of a [batch, ${s.join(', ')}] value are unsupported`);
        }
        return;
      }
      case 'Transpose': {
        const x = this.comp(present[0]!, node);
        const perm = (a.ints('perm') ?? []).join();
        if (x.view === 'nhwc' && perm === '0,3,1,2') this.set(node, { ...x, view: 'nchw' });
        else if (x.view === 'nchw' && perm === '0,2,3,1') this.set(node, { ...x, view: 'nhwc' });
        else if ((x.view === 'flat' && perm === '0,1') || perm === '0,1,2,3') this.set(node, x);
        else throw this.bad(`Transpose ${where}: permutation [${perm}] of a ${x.view.toUpperCase()} value is unsupported`);
        return;
      }
      case 'Gemm':
      case 'MatMul':
        this.set(node, this.dense(node, a, present));
        return;
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Sum':
        this.set(node, this.elementwise(node, ins));
        return;
      case 'Concat': {
        const xs = present.map((v) => this.comp(v, node, 'an input'));
        const rank = this.onnxShape(xs[0]!).length + 1;
        let axis = a.int('axis', 1);
        if (axis < 0) axis += rank;
        const view = xs[0]!.view;
        if (xs.some((x) => x.view !== view) || axis !== (view === 'nhwc' ? 3 : 1)) throw this.bad(`Concat ${where}: only concatenation along channels is supported`);
        this.set(node, this.add(node, { kind: 'concat' }, xs.map((x) => x.id), { view, nonneg: xs.every((x) => x.nonneg) }));
        return;
      }
      default:
        throw this.bad(`unsupported ONNX op ${op} ${where}`);
    }
  }

  private constantAttr(node: NodeProto, a: Attributes): TensorValues {
    const t = a.tensor('value');
    if (t) return this.decode(t, node.output?.[0] ?? '?');
    if (a.has('value_float')) return { data: Float64Array.of(a.float('value_float', 0)), shape: [], integer: false };
    if (a.has('value_int')) return { data: Float64Array.of(a.int('value_int', 0)), shape: [], integer: true };
    const fs = a.floats('value_floats');
    if (fs) return { data: Float64Array.from(fs), shape: [fs.length], integer: false };
    const is = a.ints('value_ints');
    if (is) return { data: Float64Array.from(is), shape: [is.length], integer: true };
    throw this.bad(`Constant (node ${nodeName(node)}): unsupported kind of constant`);
  }

  private activation(node: NodeProto, v: Val, act: Activation): Comp {
    const x = this.comp(v, node);
    const nonneg = act === 'relu' || act === 'relu6';
    return { ...x, id: this.raw.activation(nodeName(node), x.id, act), nonneg, afterSoftmax: false };
  }

  private checkChannels(node: NodeProto, x: Comp, n: number): void {
    const s = this.onnxShape(x);
    const c = x.view === 'nhwc' ? s[2] : s[0];
    if (n !== c && n !== 1) throw this.bad(`${node.opType} (node ${nodeName(node)}): ${n} per-channel values for ${c} channels`);
  }

  /** Explicit [[top, bottom], [left, right]] paddings of a conv or pool, from pads / auto_pad. */
  private paddings(node: NodeProto, a: Attributes, hw: [number, number], k: [number, number], s: [number, number], d: [number, number]): [[number, number], [number, number]] {
    const auto = a.string('auto_pad', 'NOTSET');
    if (auto === 'VALID') return [[0, 0], [0, 0]];
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      return [0, 1].map((i) => {
        const [before, after] = samePads(hw[i]!, k[i]!, s[i]!, d[i]!);
        return auto === 'SAME_UPPER' ? [before, after] : [after, before];
      }) as [[number, number], [number, number]];
    }
    if (auto !== 'NOTSET') throw this.bad(`${node.opType} (node ${nodeName(node)}): auto_pad ${auto} unsupported`);
    const p = a.ints('pads') ?? [0, 0, 0, 0];
    if (p.length !== 4) throw this.bad(`${node.opType} (node ${nodeName(node)}): only 2-D ${node.opType} is supported`);
    return [[p[0]!, p[2]!], [p[1]!, p[3]!]];
  }

  /** A Pad right before `x` that this conv/pool may absorb (it has no other consumer). */
  private absorbPad(node: NodeProto, x: Comp): { input: number; pre: [[number, number], [number, number]] } {
    const p = this.pads.get(x.id);
    if (p && this.consumers.get(node.input![0]!) === 1) return { input: p.input, pre: p.paddings };
    return { input: x.id, pre: [[0, 0], [0, 0]] };
  }

  private conv(node: NodeProto, a: Attributes): Comp {
    const where = `(node ${nodeName(node)})`;
    const x = this.comp(this.value(node.input![0]!, node), node);
    if (x.view !== 'nchw') throw this.bad(`Conv ${where}: its input is ${x.view.toUpperCase()}, expected NCHW`);
    const w = this.constant(node, 1, 'weight');
    if (w.shape.length !== 4) throw this.bad(`Conv ${where}: only 2-D convolutions are supported (weight [${w.shape}])`);
    const [O, Ig, kh, kw] = w.shape as [number, number, number, number];
    const bias = node.input?.[2] ? raw(f32(this.constant(node, 2, 'bias').data), [O]) : undefined;
    const group = a.int('group', 1);
    const strides = (a.ints('strides') ?? [1, 1]) as [number, number];
    const dil = (a.ints('dilations') ?? [1, 1]) as [number, number];
    const { input, pre } = this.absorbPad(node, x);
    const [H, W, C] = this.raw.shape(input) as [number, number, number];
    const own = this.paddings(node, a, [H + pre[0][0] + pre[0][1], W + pre[1][0] + pre[1][1]], [kh, kw], strides, dil);
    const pad = simplify([[pre[0][0] + own[0][0], pre[0][1] + own[0][1]], [pre[1][0] + own[1][0], pre[1][1] + own[1][1]]], [H, W], [kh, kw], strides, dil);
    const weight: RawTensor = raw(f32(w.data), w.shape);
    if (group === 1) {
      if (Ig !== C) throw this.bad(`Conv ${where}: weight expects ${Ig} input channels, got ${C}`);
      const filter = transpose(weight, [2, 3, 1, 0]); // OIHW → HWIO
      return this.add(node, { kind: 'conv2d', filter, bias, strides, pad, dilations: dil, activation: 'linear' }, input, { view: 'nchw' });
    }
    if (group === C && Ig === 1 && O % C === 0) {
      const t = transpose(weight, [2, 3, 0, 1]); // [C·M, 1, kh, kw] → [kh, kw, C·M, 1]
      const filter = raw(t.data, [kh, kw, C, O / C]);
      return this.add(node, { kind: 'depthwiseConv2d', filter, bias, strides, pad, dilations: dil, activation: 'linear' }, input, { view: 'nchw' });
    }
    throw this.bad(`Conv ${where}: grouped convolution (group ${group} of ${C} channels) is unsupported`);
  }

  private pad(node: NodeProto, a: Attributes, x: Comp): Comp {
    const where = `(node ${nodeName(node)})`;
    const mode = a.string('mode', 'constant');
    if (mode !== 'constant') throw this.bad(`Pad ${where}: mode ${mode} is unsupported (zero padding only)`);
    const p = this.opset >= 11 ? this.known(node, this.constant(node, 1, 'pads'), 'pads') : (a.ints('pads') ?? []);
    const value = this.opset >= 11 ? (node.input?.[2] ? this.constant(node, 2, 'constant value').data[0]! : 0) : a.float('value', 0);
    if (value !== 0) throw this.bad(`Pad ${where}: padding with ${value} is unsupported (zero padding only)`);
    if (x.view === 'flat' || p.length !== 8) throw this.bad(`Pad ${where}: only padding of an image's height and width is supported`);
    const [hAx, wAx] = x.view === 'nchw' ? [2, 3] : [1, 2];
    const others = [0, 1, 2, 3].filter((d) => d !== hAx && d !== wAx);
    if (others.some((d) => p[d] !== 0 || p[d + 4] !== 0) || p.some((v) => v < 0)) throw this.bad(`Pad ${where}: only non-negative padding of height and width is supported`);
    const paddings: [[number, number], [number, number]] = [[p[hAx]!, p[hAx + 4]!], [p[wAx]!, p[wAx + 4]!]];
    if (paddings.flat().every((v) => v === 0)) return x; // PyTorch writes these before pools without padding
    const out = this.add(node, { kind: 'pad', paddings }, x.id, { view: x.view, nonneg: x.nonneg });
    if (x.view === 'nchw') this.pads.set(out.id, { input: x.id, paddings });
    return out;
  }

  private pool(node: NodeProto, a: Attributes, x: Comp): Comp {
    const op = node.opType!;
    const where = `(node ${nodeName(node)})`;
    if (x.view !== 'nchw') throw this.bad(`${op} ${where}: its input is ${x.view.toUpperCase()}, expected NCHW`);
    if ((node.output ?? []).filter(Boolean).length > 1 && this.consumers.get(node.output![1]!)) throw this.bad(`${op} ${where}: the indices output is unsupported`);
    const k = (a.ints('kernel_shape') ?? []) as [number, number];
    if (k.length !== 2) throw this.bad(`${op} ${where}: only 2-D pooling is supported`);
    const s = (a.ints('strides') ?? [1, 1]) as [number, number];
    if ((a.ints('dilations') ?? [1, 1]).some((d) => d !== 1)) throw this.bad(`${op} ${where}: dilated pooling is unsupported`);
    const isMax = op === 'MaxPool';
    const includePad = !isMax && a.int('count_include_pad', 0) === 1;
    // an absorbed Pad wrote real zeros: the same as max pooling's −∞ only for values ≥ 0
    const { input, pre } = (isMax && x.nonneg) || includePad ? this.absorbPad(node, x) : { input: x.id, pre: [[0, 0], [0, 0]] as [[number, number], [number, number]] };
    const [H, W] = this.raw.shape(input) as [number, number, number];
    const own = this.paddings(node, a, [H + pre[0][0] + pre[0][1], W + pre[1][0] + pre[1][1]], k, s, [1, 1]);
    const pads: [[number, number], [number, number]] = [[pre[0][0] + own[0][0], pre[0][1] + own[0][1]], [pre[1][0] + own[1][0], pre[1][1] + own[1][1]]];
    if (a.int('ceil_mode', 0) === 1) {
      // ceil_mode only matters when a last, partial window exists; padding it at the end is exact for max of ≥ 0 values
      for (const [i, size] of [H, W].entries()) {
        const total = size + pads[i]![0] + pads[i]![1];
        const extra = (Math.ceil((total - k[i]!) / s[i]!) - Math.floor((total - k[i]!) / s[i]!)) * s[i]!;
        if (extra > 0) {
          if (!(isMax && x.nonneg)) throw this.bad(`${op} ${where}: ceil_mode with a partial last window is unsupported here`);
          pads[i]![1] += extra;
        }
      }
    }
    const kind = isMax ? 'maxPool' : 'avgPool';
    const like = { view: 'nchw' as const, nonneg: x.nonneg };
    const zero = pads.every((p) => p[0] === 0 && p[1] === 0);
    if (zero) return this.add(node, { kind, size: k, strides: s, pad: 'valid' }, input, like);
    const same = [H, W].every((size, i) => samePads(size, k[i]!, s[i]!, 1).join() === pads[i]!.join());
    // TF's 'same' pools ignore the padding (max) and leave it out of the mean (avg)
    if (same && !includePad) return this.add(node, { kind, size: k, strides: s, pad: 'same' }, input, like);
    if (includePad || x.nonneg) {
      const padded = this.raw.add(`${nodeName(node)}/pad`, { kind: 'pad', paddings: pads }, input);
      return this.add(node, { kind, size: k, strides: s, pad: 'valid' }, padded, like);
    }
    throw this.bad(`${op} ${where}: padding [${pads.flat()}] is unsupported for this input (not TF-style same, and the input may be negative)`);
  }

  /** [N, C, H, W] → [N, C·H·W] in ONNX's (CHW) order. */
  private flatten(node: NodeProto, x: Comp): Comp {
    if (x.view === 'flat') return x;
    const [H, W, C] = this.raw.shape(x.id) as [number, number, number];
    const name = nodeName(node);
    const flat = this.raw.add(x.view === 'nchw' && H * W > 1 ? `${name}/hwc` : name, { kind: 'reshape', shape: [H * W * C] }, x.id);
    if (x.view === 'nhwc' || H * W === 1) return { ...x, id: flat, view: 'flat' };
    // out[c·HW + h·W + w] = in[(h·W + w)·C + c]
    const indices = new Int32Array(H * W * C);
    for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) indices[c * H * W + p] = p * C + c;
    return { ...x, id: this.raw.add(name, { kind: 'gatherOutputs', indices }, flat), view: 'flat' };
  }

  private reshape(node: NodeProto, x: Comp, target: number[]): Comp {
    const where = `(node ${nodeName(node)})`;
    const s = this.onnxShape(x);
    const size = s.reduce((p, q) => p * q, 1);
    const b = target[0];
    if (!(b === 0 || b === -1 || (Number.isFinite(this.staticBatch) && b === this.staticBatch))) {
      throw this.bad(`Reshape ${where}: a target of [${target}] changes the batch dimension`);
    }
    let rest = target.slice(1).map((d, i) => (d === 0 ? s[i]! : d));
    if (b === -1 && rest.includes(-1)) throw this.bad(`Reshape ${where}: target [${target}] has two free dimensions`);
    const free = rest.indexOf(-1);
    if (free >= 0) {
      const known = rest.reduce((p, q, i) => (i === free ? p : p * q), 1);
      rest = rest.map((d, i) => (i === free ? size / known : d));
    }
    if (rest.reduce((p, q) => p * q, 1) !== size) throw this.bad(`Reshape ${where}: cannot reshape [batch, ${s}] to [${target}]`);
    if (rest.join() === s.join()) return x;
    if (rest.length === 1) return this.flatten(node, x);
    if (x.view === 'flat' && rest.length === 3 && rest[1] === 1 && rest[2] === 1) {
      return { ...x, id: this.raw.add(nodeName(node), { kind: 'reshape', shape: [1, 1, size] }, x.id), view: 'nchw' };
    }
    throw this.bad(`Reshape ${where}: reshaping [batch, ${s}] to [${target}] is unsupported`);
  }

  private dense(node: NodeProto, a: Attributes, ins: Val[]): Comp {
    const op = node.opType!;
    const where = `(node ${nodeName(node)})`;
    const x = this.comp(ins[0]!, node, 'its first input');
    if (x.view !== 'flat') throw this.bad(`${op} ${where}: needs a [batch, features] input (Flatten first)`);
    const w = this.constant(node, 1, 'weight');
    if (w.shape.length !== 2) throw this.bad(`${op} ${where}: weight [${w.shape}] must be 2-D`);
    if (op === 'Gemm' && a.int('transA', 0) !== 0) throw this.bad(`Gemm ${where}: transA is unsupported`);
    let kernel = raw(f32(w.data), w.shape);
    if (op === 'Gemm' && a.int('transB', 0) === 1) kernel = transpose(kernel, [1, 0]);
    const [inF, outF] = kernel.shape as [number, number];
    const alpha = op === 'Gemm' ? a.float('alpha', 1) : 1;
    if (alpha !== 1) kernel = raw(kernel.data.map((v) => v * alpha), kernel.shape);
    let bias: RawTensor | undefined;
    if (op === 'Gemm' && node.input?.[2]) {
      const c = this.constant(node, 2, 'bias').data;
      if (c.length !== outF && c.length !== 1) throw this.bad(`Gemm ${where}: bias of ${c.length} values for ${outF} outputs`);
      const beta = a.float('beta', 1);
      bias = raw(Float32Array.from({ length: outF }, (_, j) => beta * c[c.length === 1 ? 0 : j]!), [outF]);
    }
    if (this.onnxShape(x)[0] !== inF) throw this.bad(`${op} ${where}: weight expects ${inF} features, got ${this.onnxShape(x)[0]}`);
    return this.add(node, { kind: 'dense', kernel, bias, activation: 'linear' }, x.id, { view: 'flat' });
  }

  private elementwise(node: NodeProto, ins: (Val | undefined)[]): Comp {
    const op = node.opType!;
    const where = `(node ${nodeName(node)})`;
    const vals = ins.filter((v): v is Val => v !== undefined);
    const comps = vals.filter((v): v is Comp => v.kind === 'value');
    if (comps.length > 1) {
      if (op !== 'Add' && op !== 'Sum') throw this.bad(`${op} ${where}: ${op} of two computed tensors is unsupported`);
      if (vals.length !== comps.length) throw this.bad(`${op} ${where}: mixed constant and computed inputs are unsupported`);
      const s = this.onnxShape(comps[0]!).join();
      if (comps.some((c) => c.view !== comps[0]!.view || this.onnxShape(c).join() !== s)) throw this.bad(`${op} ${where}: broadcasting between computed tensors is unsupported`);
      return this.add(node, { kind: 'add' }, comps.map((c) => c.id), { view: comps[0]!.view, nonneg: comps.every((c) => c.nonneg) });
    }
    const x = comps[0]!;
    if (vals.length !== 2) throw this.bad(`${op} ${where}: expected two inputs`);
    const constFirst = vals[0]!.kind === 'const';
    const c = (vals[constFirst ? 0 : 1] as { t: TensorValues }).t;
    const vec = this.channelVector(node, x, c);
    const ones = new Float32Array(vec.length).fill(1);
    const zeros = new Float32Array(vec.length);
    let scale: Float32Array;
    let shift: Float32Array;
    switch (op) {
      case 'Add':
      case 'Sum':
        [scale, shift] = [ones, vec];
        break;
      case 'Sub':
        [scale, shift] = constFirst ? [ones.map(() => -1), vec] : [ones, vec.map((v) => -v)];
        break;
      case 'Mul':
        [scale, shift] = [vec, zeros];
        break;
      default: // Div
        if (constFirst) throw this.bad(`Div ${where}: dividing a constant by a computed value is unsupported`);
        [scale, shift] = [vec.map((v) => 1 / v), zeros];
    }
    const nonneg = x.nonneg && scale.every((v) => v >= 0) && shift.every((v) => v >= 0);
    return { ...x, id: this.raw.scaleShift(nodeName(node), x.id, scale, shift), nonneg, afterSoftmax: false };
  }

  /** A constant operand of an elementwise op as one value per channel (or one for all), if it is one. */
  private channelVector(node: NodeProto, x: Comp, c: TensorValues): Float32Array {
    const s = this.onnxShape(x);
    const rank = s.length + 1;
    const chAxis = x.view === 'nhwc' ? 3 : 1;
    const C = x.view === 'nhwc' ? s[2]! : s[0]!;
    const shape = [...new Array<number>(Math.max(0, rank - c.shape.length)).fill(1), ...c.shape];
    const ok = shape.length === rank && shape.every((d, i) => (i === chAxis ? d === 1 || d === C : d === 1));
    if (!ok) {
      throw this.bad(`${node.opType} (node ${nodeName(node)}): a constant of shape [${c.shape}] on a [batch, ${s}] value is unsupported (per-channel constants only)`);
    }
    if (Array.from(c.data).some((v) => Number.isNaN(v))) throw this.bad(`${node.opType} (node ${nodeName(node)}): depends on a dynamic dimension that cannot be resolved`);
    return f32(c.data);
  }
}

function nodeName(n: NodeProto): string {
  return n.name || n.output?.[0] || '?';
}

function f32(a: Float32Array | Float64Array): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

/** TF's 'same' padding of one axis: [before, after]. */
function samePads(size: number, k: number, s: number, d: number): [number, number] {
  const ek = (k - 1) * d + 1;
  const total = Math.max((Math.ceil(size / s) - 1) * s + ek - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Explicit paddings → 'valid' or TF's 'same' when they are one of those (no separate zero-pad then). */
function simplify(p: [[number, number], [number, number]], hw: [number, number], k: [number, number], s: [number, number], d: [number, number]): Padding {
  if (p.every((q) => q[0] === 0 && q[1] === 0)) return 'valid';
  if ([0, 1].every((i) => samePads(hw[i]!, k[i]!, s[i]!, d[i]!).join() === p[i]!.join())) return 'same';
  return p;
}
