import type { LpNorm } from '../../attacks/project.js';
import type { SgdLossSettings } from '../../attacks/sgd-engine.js';
import type { ShardCounts } from '../../eval/shard-counts.js';

/**
 * What a queue job carries and what it returns. Everything is JSON (BullMQ stores jobs as JSON in Redis);
 * arrays of numbers travel as base64 of their little-endian bytes, so a float32 perturbation arrives bit for
 * bit. Models and data are named, never shipped: every worker opens them by the same name (a zoo name, a path
 * on a shared folder, or an http(s) URL for models), so a job stays small: the perturbation (4 bytes a pixel)
 * plus a few fields.
 */

/** The model and the data of a job, as every worker can reach them. */
export interface DataRef {
  model: string;
  /** The coordinator's --models-dir, when it gave one (a worker's own --models-dir wins). */
  modelsDir?: string;
  /** A data spec (mnist:test, a folder, a list file …) with its --limit and --seed. */
  data: string;
  limit?: number;
  seed: number;
}

/** A perturbation in a job. */
export interface PerturbationRef {
  /** float32 HWC, pixels, base64. */
  v: string;
  shape: [number, number, number];
  norm: LpNorm;
}

/** Counts of images [start, end) (shard `shard`): accuracy, or each perturbation's fooling rate. */
export interface EvalJob extends DataRef {
  kind: 'eval';
  run: string;
  shard: number;
  start: number;
  end: number;
  batchSize: number;
  clip: boolean;
  /** None: plain top-1/top-5 accuracy. */
  perturbations: PerturbationRef[];
  /** Resize perturbations of another H×W to the model's input (as `uap transfer --resize`). */
  resize: boolean;
  /** A class (index, wnid or name) whose hits are counted. */
  target?: string;
  /** Also return per-image top-1 (clean, and on x + the first perturbation): `uap labels` needs them. */
  predictions: boolean;
  /** Also return the model's label names (one shard asks, for the report). */
  labelNames: boolean;
}

/** Top-1 of images [start, end) on clip(x + v), or on x without v (SGD: clean predictions, fooling rate on X). */
export interface PredictJob extends DataRef {
  kind: 'predict';
  run: string;
  shard: number;
  start: number;
  end: number;
  batchSize: number;
  clip: boolean;
  v: string | null;
}

/** Σ ∂J/∂v over some images of one SGD minibatch, at perturbation version `step`. */
export interface GradientJob extends DataRef, SgdLossSettings {
  kind: 'gradient';
  run: string;
  /** Which v this is (the step number): results for another step are never mixed in. */
  step: number;
  shard: number;
  v: string;
  indices: string;
  cls: string;
  batchSize: number;
  augment?: { flip: boolean; minScale: number; resize?: readonly [number, number]; noise?: number };
  /** The augmentation draws for these images (drawsPerImage(augment) per image, from the coordinator's stream), when augmenting. */
  draws?: number[];
}

/** Any job on the queue. */
export type QueueJob = EvalJob | PredictJob | GradientJob;

/** The model a worker opened for a job. */
export interface ModelInfo {
  modelId: string;
  inputShape: [number, number, number];
  classes: number;
}

/** Per perturbation of an eval job: evaluated (maybe resized), or not the model's size. */
export type RowResult = { status: 'ok'; resized: boolean } | { status: 'size-mismatch'; reason: 'resize-not-requested' | 'channels-differ' };

/** An eval job's result. */
export interface EvalResult extends ModelInfo {
  shard: number;
  counts: ShardCounts;
  /** Without perturbations: top-1 / top-5 hits among the labelled. */
  top1?: number;
  top5?: number;
  rows: RowResult[];
  /** Index of the target class, and its name. */
  target?: number;
  targetName?: string;
  cleanPred?: string;
  pertPred?: string;
  labels?: { ids: string[]; names: string[] };
}

/** A predict job's result: per-image top-1, base64 int32. */
export interface PredictResult {
  shard: number;
  pred: string;
}

/** A gradient job's result: Σ ∂J/∂v (base64 float32) and Σ J over its images. */
export interface GradientResult {
  shard: number;
  step: number;
  grad: string;
  lossSum: number;
}

export type QueueResult = EvalResult | PredictResult | GradientResult;

export function encodeF32(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function decodeF32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export function encodeI32(a: Int32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function decodeI32(s: string): Int32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Int32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/**
 * Errors cross Redis as text: "[CODE] message" for a UapError (the coordinator turns it back into one, with
 * its exit code), plain text otherwise.
 */
export function encodeError(code: string, message: string): string {
  return `[${code}] ${message}`;
}

export function decodeError(text: string): { code?: string; message: string } {
  const m = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(text);
  return m ? { code: m[1]!, message: m[2]! } : { message: text };
}
