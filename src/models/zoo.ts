import { UapError } from '../errors.js';
import { imagenetLabels } from './imagenet-classes.js';
import { digitLabels, type Labels } from './labels.js';
import type { Preprocessing } from './loaders/common.js';
import { DARKNET_ORDER } from './loaders/darknet-order.js';

/**
 * The model zoo: names → where the files are and how to read them. The files of a zoo model live in
 * `<models dir>/<dir>/` (the layout of ../shared/models, and of the download cache) and, failing that,
 * at the canonical public URL (`url` is the main file; the others sit beside it).
 */
export type ModelFormat = 'layers' | 'graph' | 'tflite' | 'onnx';

/**
 * How a model's outputs map onto its labels:
 * - 'imagenet': 1000 outputs in the standard order (sorted wnids);
 * - 'imagenet-background': 1001 outputs, 0 = background, then the standard order (dropped: 1000 logits);
 * - 'darknet': 1000 outputs in Darknet's order (reordered to the standard one);
 * - 'digits': 10 outputs, '0'..'9'.
 */
export type LabelLayout = 'imagenet' | 'imagenet-background' | 'darknet' | 'digits';

/**
 * One model of the zoo: its name, format, where its files are (models dir, canonical URL or this package), input
 * shape, preprocessing and label layout.
 */
export interface ZooEntry {
  readonly name: string;
  readonly description: string;
  readonly format: ModelFormat;
  /** Folder in the models dir / cache ('' for the repo's own models dir). */
  readonly dir: string;
  /** The main file inside `dir`: model.json, the .tflite or the .onnx file. */
  readonly file: string;
  /** Canonical public URL of the main file (null: ships with this repository). */
  readonly url: string | null;
  readonly inputShape: readonly [number, number, number];
  /** Pixels → model input; 'from-file' for uint8 TFLite models (their input quantisation says it) and ONNX files. */
  readonly preprocessing: Preprocessing | 'from-file';
  readonly labels: LabelLayout;
  /** Top-1 / top-5 on ../shared/imagenet-sample/val.txt as ../shared/models/README.md gives them. */
  readonly reference?: { top1: number; top5: number };
  /** The model ships in this repository (models/<dir>/). */
  readonly bundled?: boolean;
}

const TFHUB = 'https://tfhub.dev/google/tfjs-model/imagenet/mobilenet_v1_025_224/classification/3/default/1/model.json?tfjs-format=file';
const CORAL = 'https://github.com/google-coral/test_data/raw/master/';
const MOBILENET_PRE: Preprocessing = { scale: 1 / 127.5, shift: -1 };

function tflite(name: string, size: number, description: string, top1: number, top5: number): ZooEntry {
  return {
    name,
    description,
    format: 'tflite',
    dir: 'tflite',
    file: `${name}.tflite`,
    url: `${CORAL}${name}.tflite`,
    inputShape: [size, size, 3],
    preprocessing: 'from-file',
    labels: 'imagenet-background',
    reference: { top1, top5 },
  };
}

/**
 * Every model `loadModel` knows by name: the shared ImageNet models (TF.js layers and graph, TFLite) and the MNIST
 * CNN that ships with uap.
 */
export const ZOO: readonly ZooEntry[] = [
  {
    name: 'mobilenet_v1_0.25_224',
    description: 'MobileNet v1, width 0.25 (Keras, TF.js layers model)',
    format: 'layers',
    dir: 'mobilenet_v1_0.25_224',
    file: 'model.json',
    url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json',
    inputShape: [224, 224, 3],
    preprocessing: MOBILENET_PRE,
    labels: 'imagenet',
    reference: { top1: 58.5, top5: 80.5 },
  },
  {
    name: 'mobilenet_v1_0.75_224',
    description: 'MobileNet v1, width 0.75 (Keras, TF.js layers model)',
    format: 'layers',
    dir: 'mobilenet_v1_0.75_224',
    file: 'model.json',
    url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/model.json',
    inputShape: [224, 224, 3],
    preprocessing: MOBILENET_PRE,
    labels: 'imagenet',
    reference: { top1: 81.0, top5: 96.0 },
  },
  {
    name: 'mobilenet_v1_0.25_224_graph',
    description: 'MobileNet v1, width 0.25 (TF-slim via TF Hub, TF.js graph model)',
    format: 'graph',
    dir: 'mobilenet_v1_0.25_224_graph',
    file: 'model.json',
    url: TFHUB,
    inputShape: [224, 224, 3],
    // the graph rescales [0, 1] to [-1, 1] itself
    preprocessing: { scale: 1 / 255, shift: 0 },
    labels: 'imagenet-background',
    reference: { top1: 56.5, top5: 79.0 },
  },
  {
    name: 'tiny_darknet',
    description: 'Tiny Darknet (ml5.js, TF.js layers model; outputs in Darknet order)',
    format: 'layers',
    dir: 'tiny_darknet',
    file: 'model.json',
    url: 'https://raw.githubusercontent.com/ml5js/ml5-data-and-models/main/models/darknetclassifier/darknettiny/model.json',
    inputShape: [224, 224, 3],
    preprocessing: { scale: 1 / 255, shift: 0 },
    labels: 'darknet',
    reference: { top1: 64.5, top5: 86.0 },
  },
  {
    name: 'mobilenet_v1_0.25_224_onnx',
    description: 'MobileNet v1, width 0.25: the weights of mobilenet_v1_0.25_224 in a PyTorch port, ONNX from PyTorch 1.13 (NCHW)',
    format: 'onnx',
    dir: 'onnx',
    file: 'mobilenet_v1_0.25_224_pytorch.onnx',
    url: null,
    inputShape: [224, 224, 3],
    // the graph preprocesses pixels itself (p / 127.5 − 1)
    preprocessing: 'from-file',
    labels: 'imagenet',
  },
  tflite('mobilenet_v2_1.0_224_quant', 224, 'MobileNet v2, width 1.0 (TFLite uint8, dequantised)', 83.5, 97.0),
  tflite('mobilenet_v1_0.75_192_quant', 192, 'MobileNet v1, width 0.75 (TFLite uint8, dequantised)', 77.5, 94.0),
  tflite('mobilenet_v1_0.5_160_quant', 160, 'MobileNet v1, width 0.5 (TFLite uint8, dequantised)', 67.5, 87.0),
  tflite('mobilenet_v1_0.25_128_quant', 128, 'MobileNet v1, width 0.25 (TFLite uint8, dequantised)', 44.0, 71.0),
  {
    name: 'mnist',
    description: "This repository's MNIST CNN (TF.js layers model, models/mnist/)",
    format: 'layers',
    dir: 'mnist',
    file: 'model.json',
    url: null,
    inputShape: [28, 28, 1],
    // the model starts with its own Rescaling(1/255) layer
    preprocessing: { scale: 1, shift: 0 },
    labels: 'digits',
    bundled: true,
  },
];

/** The names of the zoo's models, in the zoo's order. */
export function zooNames(): string[] {
  return ZOO.map((e) => e.name);
}

/** The zoo entry called `name`, or undefined. */
export function findZooEntry(name: string): ZooEntry | undefined {
  return ZOO.find((e) => e.name === name);
}

/** The zoo entry called `name`; throws UapError NOT_FOUND listing the known names otherwise. */
export function getZooEntry(name: string): ZooEntry {
  const e = findZooEntry(name);
  if (!e) throw new UapError('NOT_FOUND', `unknown model; known models: ${zooNames().join(', ')}`, name);
  return e;
}

/** Labels of a layout, and the output selection/reordering that maps a model's outputs onto them. */
export function labelLayout(layout: LabelLayout): { labels: Labels; outputs: number; gather?: Int32Array } {
  switch (layout) {
    case 'imagenet':
      return { labels: imagenetLabels(), outputs: 1000 };
    case 'imagenet-background':
      return { labels: imagenetLabels(), outputs: 1001, gather: Int32Array.from({ length: 1000 }, (_, j) => j + 1) };
    case 'darknet': {
      // out[:, j] = in[:, i] where Darknet output i is standard class j
      const gather = new Int32Array(1000);
      DARKNET_ORDER.forEach((j, i) => (gather[j] = i));
      return { labels: imagenetLabels(), outputs: 1000, gather };
    }
    case 'digits':
      return { labels: digitLabels(), outputs: 10 };
  }
}

/** Guesses the layout of a model that is not in the zoo from its number of outputs. */
export function guessLayout(outputs: number): { labels: Labels; gather?: Int32Array } {
  if (outputs === 1000) return labelLayout('imagenet');
  if (outputs === 1001) return labelLayout('imagenet-background');
  if (outputs === 10) return labelLayout('digits');
  const ids = Array.from({ length: outputs }, (_, i) => String(i));
  return { labels: { ids, names: ids } };
}
