import * as tf from '@tensorflow/tfjs';
import { lpNorm, PERTURBATION_FORMAT_VERSION, type Classifier, type LpNorm, type PassRecord, type PerturbationRecord } from '../index.js';
import { packageVersion } from './context.js';

/** The perturbation.json of a computed perturbation: one builder for every command that saves one. */
export function perturbationRecord(a: {
  modelId: string;
  model: Classifier;
  v: Float32Array;
  norm: LpNorm;
  xi: number;
  method: string;
  options: Record<string, unknown>;
  seed: number;
  data: { spec: string; n: number };
  clip: boolean;
  history: PassRecord[];
  wallSeconds: number;
  target?: number;
  /** Clean top-1 accuracy on X (NaN: no labels); absent: not measured. */
  accuracyCleanOnX?: number;
}): PerturbationRecord {
  const { model, target } = a;
  return {
    formatVersion: PERTURBATION_FORMAT_VERSION,
    modelId: a.modelId,
    inputShape: [...model.inputShape] as [number, number, number],
    norm: a.norm,
    xi: a.xi,
    method: a.method,
    options: a.options,
    seed: a.seed,
    backend: model.backend,
    tfjsVersion: tf.version.tfjs,
    packageVersion,
    data: a.data,
    clip: a.clip,
    history: a.history.map((h) => ({ ...h, norm: a.norm === 'inf' ? h.normInf : a.norm === 2 ? h.norm2 : lpNorm(a.v, 1) })),
    foolingRateOnX: a.history.at(-1)?.foolingRate ?? 0,
    // The pass driver records the error rate only when X has labels: null says "n/a (no labels)".
    errorRateOnX: a.history.at(-1)?.errorRate ?? null,
    ...(a.accuracyCleanOnX === undefined ? {} : { accuracyCleanOnX: Number.isNaN(a.accuracyCleanOnX) ? null : a.accuracyCleanOnX }),
    wallSeconds: a.wallSeconds,
    createdAt: new Date().toISOString(),
    ...(target === undefined ? {} : { target: { index: target, id: model.labels.ids[target], name: model.labels.names[target] } }),
  };
}
