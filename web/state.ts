import * as tf from '@tensorflow/tfjs';
import { UapError, type Classifier, type PerturbationRecord, type Preprocessing } from '../src/index.js';
import { $ } from './ui.js';

/** What the page holds: the model, the photos, the perturbation; and the predictions made from them. */

export interface Top {
  index: number;
  p: number;
}

/** What the server's /api/index.json says about one model (uap serve), or a zoo entry by its public URL. */
export interface ModelChoice {
  name: string;
  description: string;
  format: string;
  inputShape: readonly number[];
  preprocessing: Preprocessing | 'from-file';
  labels: string;
  reference?: { top1: number; top5: number };
  /** Where its main file is (relative to the page); undefined: the zoo's canonical URL. */
  url?: string;
}

export interface ServedPerturbation {
  name: string;
  shape: number[];
  url: string;
  json?: string;
}

export interface Photo {
  name: string;
  full: ImageData;
  /** Class index from the file name, −1 if unknown. */
  label: number;
  x?: Float32Array;
  clean?: Top[];
  pert?: Top[];
  /** The v version `pert` was computed for. */
  pertFor?: number;
  li: HTMLLIElement;
}

export const state: {
  model?: Classifier;
  choice?: ModelChoice;
  v?: Float32Array;
  vName?: string;
  record?: PerturbationRecord;
  /** Bumped whenever the effective v changes (v, ξ, clip). */
  vVersion: number;
  photos: Photo[];
  /** Index into photos; −1: the drawing pad. */
  selected: number;
  padX?: Float32Array;
  computing?: AbortController;
  webcam?: { stream: MediaStream; stop: boolean };
  modelSeq: number;
} = { vVersion: 0, photos: [], selected: -1, modelSeq: 0 };

/** The models and perturbations on offer (the server's index, or the zoo). */
export const offer: { models: ModelChoice[]; served: ServedPerturbation[] } = { models: [], served: [] };

export const isDigits = (m?: Classifier) => !!m && m.inputShape[2] === 1 && m.labels.ids.length === 10;

export function className(i: number): string {
  return state.model?.labels.names[i] ?? String(i);
}

/** v as used now: the loaded v rescaled to ‖v‖∞ = ξ. */
export function effectiveV(): Float32Array | undefined {
  if (!state.v) return undefined;
  let m = 0;
  for (const a of state.v) m = Math.max(m, Math.abs(a));
  const xi = Number($<HTMLInputElement>('xi').value);
  const k = m > 0 ? xi / m : 0;
  return state.v.map((a) => a * k);
}

export async function topK(model: Classifier, xs: readonly Float32Array[], k = 5): Promise<Top[][]> {
  const out: Top[][] = [];
  const [h, w, c] = model.inputShape;
  const size = h * w * c;
  for (let start = 0; start < xs.length; start += 16) {
    const part = xs.slice(start, start + 16);
    const flat = new Float32Array(part.length * size);
    part.forEach((x, i) => flat.set(x, i * size));
    const input = tf.tensor4d(flat, [part.length, h, w, c]);
    const logits = await model.logits(input);
    input.dispose();
    const kk = Math.min(k, logits.shape[1]);
    const { values, indices } = tf.tidy(() => tf.topk(tf.softmax(logits), kk));
    logits.dispose();
    const [p, idx] = [await values.data(), await indices.data()];
    tf.dispose([values, indices]);
    for (let i = 0; i < part.length; i++) out.push(Array.from({ length: kk }, (_, j) => ({ index: idx[i * kk + j]!, p: p[i * kk + j]! })));
  }
  return out;
}

export function requireModel(what: string): Classifier {
  if (!state.model) throw new UapError('BAD_ARGUMENT', 'load a model first', what);
  return state.model;
}
