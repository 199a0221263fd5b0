import * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { universalPerturbation, type UniversalResult } from '../attacks/universal.js';
import { batchSource } from '../data/batch-source.js';
import { selectBatch, type Batch } from '../data/batch.js';
import { finetuneWithPerturbations, type DefenseProgress, type DefenseResult } from '../defense/finetune.js';
import { loadLayersModelFromFolder } from '../defense/layers-model.js';
import { universalAdversarialTraining } from '../defense/universal-adversarial-training.js';
import { UapError } from '../errors.js';
import { evaluatePerturbation, predict } from '../eval/fooling-rate.js';
import type { Classifier } from '../models/classifier.js';
import { loadModel } from '../models/load.js';
import { findZooEntry } from '../models/zoo.js';
import { nodeModelIO } from '../node/model-files.js';
import { loadDataset } from '../node/datasets.js';
import { saveLayersModel } from '../node/save-layers-model.js';
import { registerConv2DBackpropFilterForWasm } from '../tensor/conv2d_backprop_filter.js';
import { createRng, permutation } from '../util/rng.js';
import { initCliBackend } from './backend.js';
import { packageVersion } from './context.js';
import { fmtPct, int, norm, num, openUnit, positive } from './options.js';
import { progressBar } from './progress.js';

/**
 * `uap harden`: makes a model harder to fool with universal perturbations, and measures it the paper's way
 * (Moosavi-Dezfooli et al. 2017, Sec. 3): fooling rate on the test set of (a) the pool of perturbations used
 * for fine-tuning and (b) a fresh universal perturbation computed with the same budget and settings against
 * the original (before) and against the hardened model (after); clean accuracy before/after; wall time.
 */

export type HardenMethod = 'finetune' | 'uat';

export interface HardenSettings {
  model: string;
  modelsDir?: string;
  method: HardenMethod;
  /** ℓ∞ radius of every perturbation (pool, fresh, UAT's v), pixel units. */
  xi: number;
  /** Perturbations in the pool (finetune: trained on; uat: evaluated only; 0: none). */
  pool: number;
  /** |X| of each universal perturbation (pool and fresh). */
  attackSize: number;
  /** Algorithm 1 settings, the same for every perturbation. */
  delta: number;
  maxPasses: number;
  deepfoolBatch: number;
  /** DeepFool step norm (default 2: the paper's ℓ2 steps, also for ℓ∞ balls — far stronger here than ℓ∞ steps). */
  step?: 2 | 'inf';
  /** DeepFool classes considered (default 10). */
  candidates?: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Probability that a training image is perturbed (finetune default ½, uat default 1). */
  probability: number;
  /** UAT ascent step α. */
  stepSize?: number;
  seed: number;
  out: string;
  /** Data specs, for the record. */
  dataSpec: string;
  testSpec: string;
}

export interface AttackRecord {
  seed: number;
  foolingRateOnX: number;
  passes: number;
  seconds: number;
  normInf: number;
}

export interface SideRecord {
  cleanAccuracy: number;
  /** Fooling rate on the test images of each pool perturbation. */
  poolFoolingRates: number[];
  /** Fooling rate on the test images of a universal perturbation computed against this model. */
  freshFoolingRate: number;
  freshAccuracyPerturbed: number;
  fresh: AttackRecord;
}

export interface HardenReport {
  formatVersion: 1;
  method: HardenMethod;
  model: string;
  hardenedModel: string;
  settings: Omit<HardenSettings, 'out' | 'modelsDir'> & { norm: 'inf'; keepBest: true; trainImages: number; testImages: number };
  before: SideRecord;
  after: SideRecord;
  pool: AttackRecord[];
  training: DefenseResult & { uatNormInf?: number };
  wallSeconds: { pool: number; training: number; freshBefore: number; freshAfter: number; evaluation: number; total: number };
  backend: string;
  tfjsVersion: string;
  packageVersion: string;
  createdAt: string;
}

function normInf(v: Float32Array): number {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  return m;
}

/** The subset of `|X|` training images for perturbation `k` (pool: 0…, fresh: 1000). */
function attackSet(train: Batch, size: number, seed: number, k: number): Batch {
  return selectBatch(train, permutation(train.n, createRng(seed * 7919 + k + 1)).subarray(0, Math.min(size, train.n)));
}

/** The pool, the defence and the before/after measurements; saves the model and harden.json to `s.out`. */
export async function runHarden(
  s: HardenSettings,
  train: Batch,
  test: Batch,
  log: (line: string) => void = (l) => console.error(l),
  onBatch?: (e: DefenseProgress) => void,
): Promise<HardenReport> {
  const started = Date.now();
  const secs = (t: number) => (Date.now() - t) / 1000;
  registerConv2DBackpropFilterForWasm();
  const original = await loadModel(s.model, { modelsDir: s.modelsDir });
  const io = nodeModelIO({ modelsDir: s.modelsDir });
  const entry = findZooEntry(s.model);
  const { folder, file } = entry ? { folder: io.zoo(entry), file: entry.file } : await io.open(s.model);
  const layers = await loadLayersModelFromFolder(folder, file);
  let hardened: Classifier | undefined;
  // keepBest: at large ξ the fooling rate on X swings from pass to pass; the attacker keeps its best v.
  const attackOpts = { norm: 'inf' as const, xi: s.xi, delta: s.delta, maxPasses: s.maxPasses, deepfoolBatchSize: s.deepfoolBatch, step: s.step ?? 2, candidates: s.candidates ?? 10, keepBest: true };
  const testSource = batchSource(test);
  let evalSeconds = 0;

  const attack = async (c: Classifier, k: number, what: string): Promise<{ r: UniversalResult; rec: AttackRecord }> => {
    const t = Date.now();
    const seed = s.seed * 1000 + k;
    const r = await universalPerturbation(c, batchSource(attackSet(train, s.attackSize, s.seed, k)), {
      ...attackOpts,
      seed,
      onProgress: (e) => {
        if (e.phase === 'pass-end') log(`${what}: pass ${e.record.pass}, fooling rate on X ${fmtPct(e.record.foolingRate)} (${e.record.seconds.toFixed(1)} s)`);
      },
    });
    return { r, rec: { seed, foolingRateOnX: r.foolingRate, passes: r.passes, seconds: secs(t), normInf: normInf(r.v) } };
  };
  const measure = async (c: Classifier, pool: Float32Array[], fresh: Float32Array) => {
    const t = Date.now();
    const cleanPred = await predict(c, testSource, 500);
    let correct = 0;
    cleanPred.forEach((p, i) => (correct += p === test.labels[i] ? 1 : 0));
    const poolRates: number[] = [];
    for (const v of pool) poolRates.push((await evaluatePerturbation(c, testSource, test.labels, v, { cleanPred, batchSize: 500 })).foolingRate);
    const f = await evaluatePerturbation(c, testSource, test.labels, fresh, { cleanPred, batchSize: 500 });
    evalSeconds += secs(t);
    return { cleanAccuracy: correct / test.n, poolFoolingRates: poolRates, freshFoolingRate: f.foolingRate, freshAccuracyPerturbed: f.accuracyPerturbed };
  };

  try {
    // 1. The pool, against the original model, on different seeded subsets of the training data.
    let t = Date.now();
    const pool: Float32Array[] = [];
    const poolRecords: AttackRecord[] = [];
    for (let k = 0; k < s.pool; k++) {
      const { r, rec } = await attack(original, k, `pool ${k + 1}/${s.pool}`);
      pool.push(r.v);
      poolRecords.push(rec);
    }
    const poolSeconds = secs(t);
    if (s.method === 'finetune' && pool.length === 0) throw new UapError('BAD_ARGUMENT', 'fine-tuning needs a pool of at least one perturbation', '--pool');

    // 2. Fresh perturbation against the original (the "before" of the fresh attack), on its own subset.
    const FRESH = 1000;
    const freshBefore = await attack(original, FRESH, 'fresh vs original');
    const before = { ...(await measure(original, pool, freshBefore.r.v)), fresh: freshBefore.rec };
    log(`before: clean accuracy ${fmtPct(before.cleanAccuracy)}, pool fooling rates ${before.poolFoolingRates.map(fmtPct).join(', ') || '-'}, fresh ${fmtPct(before.freshFoolingRate)}`);

    // 3. The defence.
    t = Date.now();
    const common = { epochs: s.epochs, batchSize: s.batchSize, learningRate: s.learningRate, seed: s.seed, probability: s.probability, onBatch };
    let training: HardenReport['training'];
    if (s.method === 'finetune') {
      training = await finetuneWithPerturbations(layers, train, { ...common, pool });
    } else {
      const u = await universalAdversarialTraining(layers, train, { ...common, xi: s.xi, stepSize: s.stepSize });
      const { v, ...rest } = u;
      training = { ...rest, uatNormInf: normInf(v) };
    }
    const trainingSeconds = secs(t);
    for (const e of training.epochs) log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, ${fmtPct(e.perturbedShare)} of images perturbed, ${e.seconds.toFixed(1)} s`);

    // 4. Save, and check that loadModel reads the saved model and agrees with the trained one.
    await saveLayersModel(layers, s.out);
    hardened = await loadModel(path.resolve(s.out), { modelsDir: s.modelsDir, labels: entry?.labels });
    const probe = test.n > 0 ? Math.min(16, test.n) : 0;
    if (probe > 0) {
      const x = await batchSource(test).get(Int32Array.from({ length: probe }, (_, i) => i));
      const a = layers.predict(x) as tf.Tensor2D;
      const b = await hardened.logits(x);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      tf.dispose([x, a, b]);
      if (!(diff < 1e-3)) throw new UapError('BAD_MODEL', `the saved model's logits differ from the trained model's by ${diff}`, s.out);
    }

    // 5. After: the pool, and a fresh perturbation against the hardened model (same X, seed and settings).
    const freshAfter = await attack(hardened, FRESH, 'fresh vs hardened');
    const after = { ...(await measure(hardened, pool, freshAfter.r.v)), fresh: freshAfter.rec };
    log(`after:  clean accuracy ${fmtPct(after.cleanAccuracy)}, pool fooling rates ${after.poolFoolingRates.map(fmtPct).join(', ') || '-'}, fresh ${fmtPct(after.freshFoolingRate)}`);

    const { out: _o, modelsDir: _m, ...settings } = s;
    const report: HardenReport = {
      formatVersion: 1,
      method: s.method,
      model: s.model,
      hardenedModel: s.out,
      settings: { ...settings, norm: 'inf', keepBest: true, trainImages: train.n, testImages: test.n },
      before,
      after,
      pool: poolRecords,
      training,
      wallSeconds: {
        pool: poolSeconds,
        training: trainingSeconds,
        freshBefore: freshBefore.rec.seconds,
        freshAfter: freshAfter.rec.seconds,
        evaluation: evalSeconds,
        total: secs(started),
      },
      backend: tf.getBackend(),
      tfjsVersion: tf.version.tfjs,
      packageVersion,
      createdAt: new Date().toISOString(),
    };
    await writeFile(path.join(s.out, 'harden.json'), JSON.stringify(report, null, 2) + '\n');
    return report;
  } finally {
    original.dispose();
    hardened?.dispose();
    layers.dispose();
  }
}

export interface HardenFlags {
  model: string;
  method: string;
  xi: string;
  pool: string;
  attackSize: string;
  delta: string;
  maxPasses: string;
  deepfoolBatch: string;
  step: string;
  candidates: string;
  epochs: string;
  batchSize: string;
  lr: string;
  probability?: string;
  stepSize?: string;
  data: string;
  limit?: string;
  test: string;
  testLimit?: string;
  seed: string;
  out: string;
  modelsDir?: string;
  json?: boolean;
}

export function registerHarden(program: Command): void {
  program
    .command('harden')
    .description('fine-tune a TF.js layers model against universal perturbations (finetune: the paper, Sec. 3; uat: Shafahi et al. 2020) and measure before/after')
    .requiredOption('--model <name>', 'zoo name (e.g. mnist), model folder or model.json of a TF.js layers model')
    .option('--method <m>', 'finetune (pool of universal perturbations, each image perturbed with probability ½) or uat', 'finetune')
    .option('--xi <x>', 'ℓ∞ radius of the perturbations, pixel units', '77')
    .option('--pool <n>', 'universal perturbations in the pool (computed against the original model)', '3')
    .option('--attack-size <n>', '|X|: training images each universal perturbation is computed on', '1000')
    .option('--delta <x>', 'Algorithm 1: stop when the fooling rate on X reaches 1 − δ', '0.2')
    .option('--max-passes <n>', 'Algorithm 1: at most this many passes over X', '5')
    .option('--deepfool-batch <n>', 'Algorithm 1: images per DeepFool call', '1')
    .option('--step <p>', "Algorithm 1: DeepFool step norm, 2 (the paper's) or inf", '2')
    .option('--candidates <n>', 'Algorithm 1: DeepFool classes considered', '10')
    .option('--epochs <n>', 'fine-tuning epochs', '1')
    .option('--batch-size <n>', 'minibatch size', '64')
    .option('--lr <x>', 'Adam learning rate', '0.0001')
    .option('--probability <x>', 'probability that a training image is perturbed (default: finetune 0.5, uat 1)')
    .option('--step-size <x>', 'uat: ascent step on v (default ξ/10)')
    .option('--data <spec>', 'training images', 'mnist:train')
    .option('--limit <n>', 'use the first n training images of a seeded shuffle')
    .option('--test <spec>', 'test images for the measurements', 'mnist:test')
    .option('--test-limit <n>', 'use n test images (default: all)')
    .option('--seed <n>', 'seed of the subsets, visiting orders and perturbation draws', '1')
    .requiredOption('--out <dir>', 'where the hardened model (model.json + weights.bin) and harden.json go')
    .option('--models-dir <dir>', 'local model mirror (default: env UAP_MODELS_DIR)')
    .option('--json', 'print harden.json on stdout')
    .action(async (f: HardenFlags) => {
      const report = await hardenCommand(program, f);
      if (f.json) console.log(JSON.stringify(report, null, 2));
    });
}

function stepNorm(value: string): 2 | 'inf' {
  const p = norm('--step', value);
  if (p === 1) throw new UapError('BAD_ARGUMENT', 'must be 2 or inf', '--step');
  return p;
}

export async function hardenCommand(program: Command, f: HardenFlags): Promise<HardenReport> {
  if (f.method !== 'finetune' && f.method !== 'uat') throw new UapError('BAD_ARGUMENT', `must be finetune or uat, got "${f.method}"`, '--method');
  const method: HardenMethod = f.method;
  const probability = f.probability === undefined ? (method === 'finetune' ? 0.5 : 1) : num('--probability', f.probability);
  if (!(probability >= 0 && probability <= 1)) throw new UapError('BAD_ARGUMENT', `must be in [0, 1], got ${f.probability}`, '--probability');
  const seed = int('--seed', f.seed);
  const limit = f.limit === undefined ? undefined : int('--limit', f.limit, 1);
  const testLimit = f.testLimit === undefined ? undefined : int('--test-limit', f.testLimit, 1);
  const settings: HardenSettings = {
    model: f.model,
    modelsDir: f.modelsDir,
    method,
    xi: positive('--xi', f.xi),
    pool: int('--pool', f.pool, method === 'finetune' ? 1 : 0),
    attackSize: int('--attack-size', f.attackSize, 1),
    delta: openUnit('--delta', f.delta),
    maxPasses: int('--max-passes', f.maxPasses, 1),
    deepfoolBatch: int('--deepfool-batch', f.deepfoolBatch, 1),
    step: stepNorm(f.step),
    candidates: int('--candidates', f.candidates, 2),
    epochs: int('--epochs', f.epochs, 1),
    batchSize: int('--batch-size', f.batchSize, 1),
    learningRate: positive('--lr', f.lr),
    probability,
    stepSize: f.stepSize === undefined ? undefined : positive('--step-size', f.stepSize),
    seed,
    out: f.out,
    dataSpec: f.data + (limit ? ` (limit ${limit}, seed ${seed})` : ''),
    testSpec: f.test + (testLimit ? ` (limit ${testLimit}, seed ${seed})` : ''),
  };
  await initCliBackend(program);
  const probe = await loadModel(f.model, { modelsDir: f.modelsDir });
  const shape = [...probe.inputShape] as [number, number, number];
  probe.dispose();
  const train = await loadDataset(f.data, { inputShape: shape, limit, seed });
  const test = await loadDataset(f.test, { inputShape: shape, limit: testLimit, seed });
  console.error(`harden (${method}): ${train.n} training images, ${test.n} test images, ξ = ${settings.xi} (ℓ∞), pool of ${settings.pool}, |X| = ${settings.attackSize}`);
  const bar = progressBar(method);
  let barEpoch = 0;
  const report = await runHarden(settings, train, test, (l) => console.error(l), (e) => {
    if (e.epoch !== barEpoch) {
      if (barEpoch) bar.stop();
      bar.start(e.batches, 0, { status: '' });
      barEpoch = e.epoch;
    }
    bar.update(e.batch, { status: `epoch ${e.epoch} loss ${e.loss.toFixed(4)}` });
    if (e.batch === e.batches) {
      bar.stop();
      barEpoch = 0;
    }
  });
  const b = report.before;
  const a = report.after;
  console.error(
    `clean accuracy ${fmtPct(b.cleanAccuracy)} → ${fmtPct(a.cleanAccuracy)}; fresh universal perturbation (ξ ${settings.xi}) fooling rate ` +
      `${fmtPct(b.freshFoolingRate)} → ${fmtPct(a.freshFoolingRate)}; ` +
      (b.poolFoolingRates.length ? `pool ${b.poolFoolingRates.map(fmtPct).join('/')} → ${a.poolFoolingRates.map(fmtPct).join('/')}; ` : '') +
      `${report.wallSeconds.total.toFixed(0)} s (training ${report.wallSeconds.training.toFixed(0)} s); saved to ${f.out}/{model.json,weights.bin,harden.json}`,
  );
  return report;
}
