import * as tf from '@tensorflow/tfjs';
import { universalPerturbation, type PassRecord, type UniversalOptions } from '../../attacks/universal.js';
import { centroidClassifier } from '../../attacks/testing/affine-classifier.js';
import type { PerturbationRecord } from '../../io/perturbation-record.js';
import { createRng, gaussianArray } from '../../util/rng.js';
import { loadPerturbation, savePerturbation } from '../perturbation-files.js';

/**
 * A small Algorithm 1 run that checkpoints through savePerturbation after every pass, as `uap compute` does,
 * on a problem with known geometry (10 Gaussian clusters in 4×4×1, a nearest-centroid classifier). Tests run
 * it in a child process killed inside a save (UAP_TEST_KILL_AT), then resume it from the folder, and compare
 * with an uninterrupted run.  Run as a script: `node --import tsx checkpointed-run.ts DIR [--resume]`.
 */

export const SHAPE = [4, 4, 1] as const;
const D = 16;
export const OPTIONS: UniversalOptions = { norm: 'inf', xi: 25, seed: 3, maxPasses: 3, delta: 0.001 };

function problem() {
  const means = Array.from({ length: 10 }, (_, k) => {
    const m = new Float32Array(D).fill(128);
    if (k > 0) m[k - 1]! += 40;
    return m;
  });
  const rng = createRng(1);
  const n = 40;
  const pixels = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const z = gaussianArray(D, rng, 0, 6);
    for (let j = 0; j < D; j++) pixels[i * D + j] = means[i % 10]![j]! + z[j]!;
  }
  return { X: tf.tensor4d(pixels, [n, ...SHAPE]), clf: centroidClassifier(SHAPE, means), n };
}

function record(_v: Float32Array, history: PassRecord[], n: number, complete: boolean): PerturbationRecord {
  return {
    formatVersion: 1,
    modelId: 'centroid',
    inputShape: [...SHAPE],
    norm: 'inf',
    xi: OPTIONS.xi,
    method: 'deepfool',
    options: { maxPasses: OPTIONS.maxPasses, complete },
    seed: OPTIONS.seed ?? 0,
    backend: tf.getBackend(),
    tfjsVersion: tf.version.tfjs,
    packageVersion: '0',
    data: { spec: 'clusters', n },
    clip: true,
    history: history.map((h) => ({ ...h, norm: h.normInf, seconds: 0 })),
    foolingRateOnX: history.at(-1)?.foolingRate ?? 0,
    wallSeconds: 0,
    createdAt: new Date(0).toISOString(),
  };
}

/** Runs (or, with `resume`, continues) to the end; returns the final v. */
export async function checkpointedRun(dir: string, resume = false): Promise<{ v: Float32Array; passes: number; resumedAfter: number }> {
  await tf.setBackend('cpu');
  const { X, clf, n } = problem();
  let initial: UniversalOptions['initial'];
  if (resume) {
    const ck = await loadPerturbation(dir, { repair: true });
    initial = { v: ck.data, pass: ck.record!.history.length, history: ck.record!.history.map((h) => ({ ...h, updates: h.updates ?? 0, normInf: h.normInf ?? h.norm, norm2: h.norm2 ?? NaN })) };
  }
  const res = await universalPerturbation(clf, X, {
    ...OPTIONS,
    initial,
    onPassEnd: async (v, history) => {
      await savePerturbation(dir, v, SHAPE, record(v, history, n, false));
    },
  });
  X.dispose();
  return { v: res.v, passes: res.passes, resumedAfter: initial?.pass ?? 0 };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  await checkpointedRun(process.argv[2]!, process.argv.includes('--resume'));
}
