import type * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import type { Preprocessing } from '../models/loaders/common.js';

/**
 * Making a TF.js layers model trainable the way the Classifier sees it, and freezing all but its head.
 *
 * loadModel's Classifier is pixels in (0..255), logits out: the zoo's preprocessing is prepended and a final
 * softmax is dropped. The defences train on pixels with a softmax cross-entropy of logits, so the layers model
 * they train must be the same function; `classifierTopology` rewrites a model.json topology into it
 * (a Rescaling layer for the preprocessing, softmax activations made linear). The saved hardened model is then
 * self-contained: pixels in, logits out, loadable with identity preprocessing. Browser-safe (pure JSON).
 */

interface LayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

interface ModelConfigJson {
  class_name: string;
  config: { layers: LayerJson[]; input_layers?: unknown[]; [k: string]: unknown } | LayerJson[];
}

/** The layer name used for the prepended preprocessing. */
export const PIXELS_LAYER = 'uap_pixels_to_input';

function isIdentity(p: Preprocessing | undefined): boolean {
  return !p || (p.scale === 1 && p.shift === 0 && !p.reverseChannels);
}

/** The Keras model config inside a topology (Keras files nest it under model_config; tfjs-saved ones do not). */
function modelConfig(topology: Record<string, unknown>, source: string): ModelConfigJson {
  const mc = (topology.model_config ?? topology) as ModelConfigJson;
  const layers = Array.isArray(mc.config) ? mc.config : mc.config?.layers;
  if (!mc.class_name || !Array.isArray(layers)) throw new UapError('BAD_MODEL', 'model.json topology has no layer list', source);
  return mc;
}

/** Replaces every reference to layer `from` in an inbound-node list by `to` (Keras nests them: [[[name, node, tensor, kwargs]]]). */
function renameInbound(nodes: unknown, from: string, to: string): unknown {
  if (!Array.isArray(nodes)) return nodes;
  if (typeof nodes[0] === 'string' && nodes[0] === from) return [to, ...nodes.slice(1)];
  return nodes.map((n) => renameInbound(n, from, to));
}

/**
 * A copy of a layers-model topology whose input is pixels (the preprocessing as a Rescaling layer first)
 * and whose output is logits (softmax activations made linear: the loader only accepts reshapes after a
 * softmax, so the outputs are the values before it, as loadModel exposes them).
 */
export function classifierTopology(topology: unknown, preprocessing: Preprocessing | undefined, source: string): Record<string, unknown> {
  const copy = structuredClone(topology) as Record<string, unknown>;
  const mc = modelConfig(copy, source);
  const sequential = Array.isArray(mc.config) || mc.class_name === 'Sequential';
  const layers = Array.isArray(mc.config) ? mc.config : mc.config.layers;
  for (const l of layers) {
    if (l.config && l.config.activation === 'softmax') l.config.activation = 'linear';
  }
  if (isIdentity(preprocessing)) return copy;
  const p = preprocessing!;
  if (typeof p.scale !== 'number' || typeof p.shift !== 'number' || p.reverseChannels) {
    throw new UapError('BAD_MODEL', 'per-channel or channel-reversing preprocessing cannot be prepended for training (only x·scale + shift)', source);
  }
  const rescaling: LayerJson = { class_name: 'Rescaling', config: { name: PIXELS_LAYER, trainable: false, dtype: 'float32', scale: p.scale, offset: p.shift } };
  if (sequential) {
    // The first layer of a Sequential carries the input shape; it moves to the new first layer.
    const first = layers[0];
    if (!first) throw new UapError('BAD_MODEL', 'empty Sequential model', source);
    if (first.class_name === 'InputLayer') {
      layers.splice(1, 0, rescaling);
    } else {
      rescaling.config.batch_input_shape = first.config.batch_input_shape;
      delete first.config.batch_input_shape;
      delete first.config.input_shape;
      layers.unshift(rescaling);
    }
    return copy;
  }
  const inputs = layers.filter((l) => l.class_name === 'InputLayer');
  if (inputs.length !== 1) throw new UapError('BAD_MODEL', `a classifier needs one input layer, found ${inputs.length}`, source);
  const inputName = (inputs[0]!.name ?? inputs[0]!.config.name) as string;
  for (const l of layers) if (l.inbound_nodes) l.inbound_nodes = renameInbound(l.inbound_nodes, inputName, PIXELS_LAYER) as unknown[];
  rescaling.name = PIXELS_LAYER;
  rescaling.inbound_nodes = [[[inputName, 0, 0, {}]]];
  layers.splice(layers.indexOf(inputs[0]!) + 1, 0, rescaling);
  return copy;
}

/** The layers that hold weights, in order (what --trainable-layers counts). */
export function weightedLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => l.weights.length > 0);
}

/**
 * Freezes every layer with weights except the last `n` (undefined: all trainable). Returns the names of the
 * trainable ones. Gradients then stop at the first trainable layer, so training only the head is cheap.
 */
export function freezeAllButLast(model: tf.LayersModel, n: number | undefined, option = 'trainableLayers'): string[] {
  const weighted = weightedLayers(model);
  if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${n}`, option);
  if (n !== undefined && n > weighted.length) {
    throw new UapError('BAD_ARGUMENT', `the model has only ${weighted.length} layers with weights, got ${n}`, option);
  }
  const keep = n ?? weighted.length;
  weighted.forEach((l, i) => (l.trainable = i >= weighted.length - keep));
  return weighted.slice(weighted.length - keep).map((l) => l.name);
}
