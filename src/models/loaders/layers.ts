import { UapError } from '../../errors.js';
import type { Activation, Padding } from '../net/ir.js';
import { RawGraph, raw, resolveShape, type LoadedNet, type Preprocessing, type RawTensor } from './common.js';
import type { DecodedWeight } from './weights.js';

/**
 * TF.js layers model (Keras topology in model.json) → Net.
 *
 * Batch norms are folded into the preceding convolution, activations fused into it; a softmax is
 * dropped so the net outputs logits (it may only be followed by reshapes/dropout: the Keras MobileNets
 * end in Conv2D → softmax → Reshape). Preprocessing (pixels → model input) is prepended as scaleShift.
 */

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

export interface LayersToNetOptions {
  /** Names the model in errors. */
  source: string;
  /** pixels → model input; identity when absent. */
  preprocessing?: Preprocessing;
}

type Value = { id: number; afterSoftmax: boolean };

const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization', 'Masking']);

export function layersModelToNet(modelJson: unknown, weights: Map<string, DecodedWeight>, opts: LayersToNetOptions): LoadedNet {
  const src = opts.source;
  const bad = (m: string) => new UapError('BAD_MODEL', m, src);
  const top = (modelJson as { modelTopology?: Record<string, unknown> })?.modelTopology;
  if (!top || typeof top !== 'object') throw bad('model.json has no modelTopology');
  const cfg = (top.model_config ?? top) as { class_name?: string; config?: unknown };
  if (!cfg.class_name || !cfg.config) throw bad('modelTopology has no model_config');

  // Normalise to a list of layers with explicit inputs.
  let layers: KerasLayer[];
  let inputs: string[][];
  let outputName: string;
  if (cfg.class_name === 'Sequential') {
    const list = (Array.isArray(cfg.config) ? cfg.config : (cfg.config as { layers?: unknown }).layers) as KerasLayer[] | undefined;
    if (!Array.isArray(list) || list.length === 0) throw bad('Sequential model has no layers');
    layers = list.map((l, i) => ({ ...l, name: layerName(l, i) }));
    inputs = layers.map((_, i) => (i === 0 ? ['__input__'] : [layers[i - 1]!.name!]));
    outputName = layers[layers.length - 1]!.name!;
  } else if (cfg.class_name === 'Model' || cfg.class_name === 'Functional') {
    const c = cfg.config as { layers?: KerasLayer[]; output_layers?: unknown[] };
    if (!Array.isArray(c.layers)) throw bad('Model has no layers');
    layers = c.layers.map((l, i) => ({ ...l, name: layerName(l, i) }));
    inputs = layers.map((l) => {
      const nodes = l.inbound_nodes ?? [];
      if (nodes.length > 1) throw bad(`layer ${l.name} is shared (called ${nodes.length} times): unsupported`);
      if (nodes.length === 0) return [];
      const node = nodes[0];
      if (!Array.isArray(node)) throw bad(`layer ${l.name}: unsupported inbound_nodes format`);
      return node.map((t) => {
        if (!Array.isArray(t) || typeof t[0] !== 'string') throw bad(`layer ${l.name}: unsupported inbound_nodes format`);
        return t[0] as string;
      });
    });
    const outs = c.output_layers;
    if (!Array.isArray(outs) || outs.length !== 1) throw bad('model must have exactly one output');
    const o = outs[0];
    outputName = (Array.isArray(o) ? o[0] : o) as string;
  } else {
    throw bad(`unsupported model class ${cfg.class_name}`);
  }

  // Input shape.
  const first = layers.find((l) => l.class_name === 'InputLayer') ?? layers[0]!;
  const bis = (first.config.batch_input_shape ?? first.config.batch_shape) as (number | null)[] | undefined;
  if (!Array.isArray(bis)) throw bad('the first layer has no batch_input_shape');
  const dims = bis.slice(1);
  if (dims.length === 2) dims.push(1);
  if (dims.length !== 3 || !dims.every((d) => typeof d === 'number' && d > 0)) {
    throw bad(`input shape [${bis}] is not a fixed [H, W, C] image`);
  }
  const g = new RawGraph(dims as [number, number, number], src);
  const pre = opts.preprocessing ? g.preprocess(opts.preprocessing) : 0;

  // Weight lookup: "layer/kernel", tolerating prefixes ("model/layer/kernel") and ":0" suffixes.
  const byName = new Map<string, DecodedWeight>();
  for (const [k, v] of weights) byName.set(k.replace(/:0$/, ''), v);
  const weight = (layer: string, w: string, shape?: number[]): RawTensor => {
    let d = byName.get(`${layer}/${w}`);
    if (!d) {
      const suffix = `/${layer}/${w}`;
      for (const [k, v] of byName) if (k.endsWith(suffix)) { d = v; break; }
    }
    if (!d) throw bad(`layer ${layer}: weight ${layer}/${w} is missing from the weights manifest`);
    if (shape && shape.join() !== d.shape.join()) throw bad(`layer ${layer}: weight ${w} has shape [${d.shape}], expected [${shape}]`);
    return raw(Float32Array.from(d.data), d.shape);
  };

  // Topological order (Keras writes layers in order, but do not rely on it).
  const index = new Map(layers.map((l, i) => [l.name!, i]));
  const order: number[] = [];
  const state = new Array<number>(layers.length).fill(0);
  const visit = (i: number) => {
    if (state[i] === 2) return;
    if (state[i] === 1) throw bad(`cycle at layer ${layers[i]!.name}`);
    state[i] = 1;
    for (const n of inputs[i]!) {
      if (n === '__input__') continue;
      const j = index.get(n);
      if (j === undefined) throw bad(`layer ${layers[i]!.name} reads unknown layer ${n}`);
      visit(j);
    }
    state[i] = 2;
    order.push(i);
  };
  const outIdx = index.get(outputName);
  if (outIdx === undefined) throw bad(`output layer ${outputName} not found`);
  visit(outIdx);

  const values = new Map<string, Value>();
  values.set('__input__', { id: pre, afterSoftmax: false });
  for (const i of order) {
    const l = layers[i]!;
    const name = l.name!;
    const ins = inputs[i]!.map((n) => values.get(n)!);
    if (l.class_name === 'InputLayer' || (ins.length === 0 && i === 0)) {
      values.set(name, { id: pre, afterSoftmax: false });
      if (l.class_name === 'InputLayer') continue;
      ins.push({ id: pre, afterSoftmax: false });
    }
    if (ins.length === 0) throw bad(`layer ${name} has no inputs`);
    const x = ins[0]!;
    const c = l.config;
    const shapeOnly = l.class_name === 'Reshape' || l.class_name === 'Flatten' || IDENTITY_LAYERS.has(l.class_name);
    if (ins.some((v) => v.afterSoftmax) && !shapeOnly && !(l.class_name === 'Activation' && c.activation === 'linear')) {
      throw bad(`layer ${name} (${l.class_name}) follows a softmax: only reshapes may follow it`);
    }
    const set = (id: number, afterSoftmax = false) => values.set(name, { id, afterSoftmax });
    const act = (a: unknown): Activation | 'softmax' => parseActivation(a, name, l.class_name, src);
    const withAct = (id: number, a: unknown) => {
      const ac = act(a ?? 'linear');
      if (ac === 'softmax') set(id, true);
      else set(g.activation(`${name}/act`, id, ac));
    };
    const checkFormat = () => {
      if (c.data_format !== undefined && c.data_format !== 'channels_last') throw bad(`layer ${name}: data_format ${String(c.data_format)} unsupported`);
    };
    switch (l.class_name) {
      case 'Conv2D': {
        checkFormat();
        if (c.groups !== undefined && c.groups !== 1) throw bad(`layer ${name}: grouped convolution unsupported`);
        const kernel = weight(name, 'kernel');
        const bias = c.use_bias === false ? undefined : weight(name, 'bias');
        const id = g.add(name, { kind: 'conv2d', filter: kernel, bias, strides: pair(c.strides, 1), pad: padding(c.padding, name, src), dilations: pair(c.dilation_rate, 1), activation: 'linear' }, x.id);
        withAct(id, c.activation);
        break;
      }
      case 'DepthwiseConv2D': {
        checkFormat();
        const kernel = weight(name, 'depthwise_kernel');
        const bias = c.use_bias === false ? undefined : weight(name, 'bias');
        const id = g.add(name, { kind: 'depthwiseConv2d', filter: kernel, bias, strides: pair(c.strides, 1), pad: padding(c.padding, name, src), dilations: pair(c.dilation_rate, 1), activation: 'linear' }, x.id);
        withAct(id, c.activation);
        break;
      }
      case 'SeparableConv2D': {
        checkFormat();
        const dk = weight(name, 'depthwise_kernel');
        const pk = weight(name, 'pointwise_kernel');
        const bias = c.use_bias === false ? undefined : weight(name, 'bias');
        const dw = g.add(`${name}/depthwise`, { kind: 'depthwiseConv2d', filter: dk, strides: pair(c.strides, 1), pad: padding(c.padding, name, src), dilations: pair(c.dilation_rate, 1), activation: 'linear' }, x.id);
        const id = g.add(name, { kind: 'conv2d', filter: pk, bias, strides: [1, 1], pad: 'valid', activation: 'linear' }, dw);
        withAct(id, c.activation);
        break;
      }
      case 'BatchNormalization': {
        const shape = g.shape(x.id);
        const axis = Array.isArray(c.axis) ? (c.axis as number[])[0] : (c.axis as number | undefined) ?? -1;
        if (axis !== -1 && axis !== shape.length) throw bad(`layer ${name}: batch norm over axis ${axis} unsupported (channels last only)`);
        const ch = shape[shape.length - 1]!;
        const eps = (c.epsilon as number | undefined) ?? 1e-3;
        const gamma = c.scale === false ? undefined : weight(name, 'gamma', [ch]);
        const beta = c.center === false ? undefined : weight(name, 'beta', [ch]);
        const mean = weight(name, 'moving_mean', [ch]);
        const variance = weight(name, 'moving_variance', [ch]);
        const scale = new Float32Array(ch);
        const shift = new Float32Array(ch);
        for (let k = 0; k < ch; k++) {
          scale[k] = (gamma ? gamma.data[k]! : 1) / Math.sqrt(variance.data[k]! + eps);
          shift[k] = (beta ? beta.data[k]! : 0) - mean.data[k]! * scale[k]!;
        }
        set(g.scaleShift(name, x.id, scale, shift));
        break;
      }
      case 'Rescaling': {
        const s = c.scale as number | number[];
        const o = (c.offset as number | number[] | undefined) ?? 0;
        const ch = g.shape(x.id).at(-1)!;
        const vec = (v: number | number[]) => Float32Array.from(typeof v === 'number' ? new Array<number>(ch).fill(v) : v);
        set(g.scaleShift(name, x.id, vec(s), vec(o)));
        break;
      }
      case 'Activation':
        withAct(x.id, c.activation);
        if (x.afterSoftmax) values.get(name)!.afterSoftmax = true;
        break;
      case 'Softmax':
        set(x.id, true);
        break;
      case 'ReLU': {
        const maxValue = c.max_value as number | null | undefined;
        const slope = (c.negative_slope as number | undefined) ?? 0;
        if ((c.threshold as number | undefined) ?? 0) throw bad(`layer ${name}: ReLU threshold unsupported`);
        let a: Activation;
        if (maxValue === 6 && !slope) a = 'relu6';
        else if (maxValue == null && !slope) a = 'relu';
        else if (maxValue == null) a = { leakyAlpha: slope };
        else throw bad(`layer ${name}: ReLU with max_value ${maxValue} unsupported`);
        set(g.activation(name, x.id, a));
        break;
      }
      case 'LeakyReLU':
        set(g.activation(name, x.id, { leakyAlpha: (c.alpha as number | undefined) ?? (c.negative_slope as number | undefined) ?? 0.3 }));
        break;
      case 'ZeroPadding2D': {
        checkFormat();
        const p = c.padding as number | number[] | number[][];
        let pads: [[number, number], [number, number]];
        if (typeof p === 'number') pads = [[p, p], [p, p]];
        else if (typeof p[0] === 'number') pads = [[p[0] as number, p[0] as number], [p[1] as number, p[1] as number]];
        else pads = [[(p as number[][])[0]![0]!, (p as number[][])[0]![1]!], [(p as number[][])[1]![0]!, (p as number[][])[1]![1]!]];
        set(g.add(name, { kind: 'pad', paddings: pads }, x.id));
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        checkFormat();
        const size = pair(c.pool_size, 2);
        const strides = c.strides == null ? size : pair(c.strides, 1);
        const pad = padding(c.padding, name, src);
        if (typeof pad !== 'string') throw bad(`layer ${name}: explicit pooling padding unsupported`);
        set(g.add(name, { kind: l.class_name === 'MaxPooling2D' ? 'maxPool' : 'avgPool', size, strides, pad }, x.id));
        break;
      }
      case 'GlobalAveragePooling2D': {
        checkFormat();
        let id = g.add(name, { kind: 'globalAvgPool' }, x.id);
        if (c.keepdims) id = g.add(`${name}/keepdims`, { kind: 'reshape', shape: [1, 1, g.shape(id)[0]!] }, id);
        set(id);
        break;
      }
      case 'Reshape': {
        const target = c.target_shape as number[];
        const size = g.shape(x.id).reduce((a, b) => a * b, 1);
        const shape = resolveShape(target, size, `${src}: ${name}`);
        set(sameShape(g.shape(x.id), shape) ? x.id : g.add(name, { kind: 'reshape', shape }, x.id), x.afterSoftmax);
        break;
      }
      case 'Flatten': {
        const size = g.shape(x.id).reduce((a, b) => a * b, 1);
        set(g.shape(x.id).length === 1 ? x.id : g.add(name, { kind: 'reshape', shape: [size] }, x.id), x.afterSoftmax);
        break;
      }
      case 'Dense': {
        const inShape = g.shape(x.id);
        if (inShape.length !== 1) throw bad(`layer ${name}: Dense on a [${inShape}] input unsupported (flatten first)`);
        const kernel = weight(name, 'kernel');
        const bias = c.use_bias === false ? undefined : weight(name, 'bias');
        const id = g.add(name, { kind: 'dense', kernel, bias, activation: 'linear' }, x.id);
        withAct(id, c.activation);
        break;
      }
      case 'Add':
        set(g.add(name, { kind: 'add' }, ins.map((v) => v.id)));
        break;
      case 'Concatenate': {
        const rank = g.shape(x.id).length;
        const axis = (c.axis as number | undefined) ?? -1;
        if (axis !== -1 && axis !== rank) throw bad(`layer ${name}: concatenation along axis ${axis} unsupported (channels only)`);
        set(g.add(name, { kind: 'concat' }, ins.map((v) => v.id)));
        break;
      }
      default:
        if (IDENTITY_LAYERS.has(l.class_name)) {
          set(x.id, x.afterSoftmax);
          break;
        }
        throw bad(`unsupported layer type ${l.class_name} (layer ${name})`);
    }
  }
  let out = values.get(outputName)!.id;
  if (g.shape(out).length !== 1) {
    out = g.add('logits/flatten', { kind: 'reshape', shape: [g.shape(out).reduce((a, b) => a * b, 1)] }, out);
  }
  return g.build(out);
}

function layerName(l: KerasLayer, i: number): string {
  return (l.name ?? (l.config?.name as string | undefined) ?? `layer_${i}`) as string;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function pair(v: unknown, dflt: number): [number, number] {
  if (v == null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0]!, a[1] ?? a[0]!];
}

function padding(p: unknown, layer: string, src: string): Padding {
  if (p === undefined || p === 'valid') return 'valid';
  if (p === 'same') return 'same';
  throw new UapError('BAD_MODEL', `layer ${layer}: padding ${String(p)} unsupported`, src);
}

function parseActivation(a: unknown, layer: string, cls: string, src: string): Activation | 'softmax' {
  const name = typeof a === 'string' ? a : (a as { class_name?: string } | undefined)?.class_name?.toLowerCase();
  switch (name) {
    case undefined:
    case 'linear':
      return 'linear';
    case 'relu':
      return 'relu';
    case 'relu6':
      return 'relu6';
    case 'softmax':
      return 'softmax';
    default:
      throw new UapError('BAD_MODEL', `unsupported activation ${String(name)} in layer ${layer} (${cls})`, src);
  }
}
