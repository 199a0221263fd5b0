import * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import path from 'node:path';
import { sgdPerturbation, type SgdProgress } from '../attacks/sgd.js';
import { universalPerturbation, type PassRecord, type UniversalProgress } from '../attacks/universal.js';
import { batchSource } from '../data/batch-source.js';
import { selectBatch, type Batch } from '../data/batch.js';
import { finetuneWithPerturbations, type DefenseProgress, type DefenseResult, type EpochEnd, type TrainingSet } from '../defense/finetune.js';
import { freezeAllButLast } from '../defense/head.js';
import { loadLayersModelFromFolder } from '../defense/layers-model.js';
import { universalAdversarialTraining } from '../defense/universal-adversarial-training.js';
import { UapError } from '../errors.js';
import { evaluatePerturbation, predict } from '../eval/fooling-rate.js';
import type { Classifier } from '../models/classifier.js';
import { loadModel } from '../models/load.js';
import { findZooEntry } from '../models/zoo.js';
import { nodeModelIO } from '../node/model-files.js';
import { loadDataset } from '../node/datasets.js';
import { writeJsonAtomic } from '../node/perturbation-files.js';
import { saveLayersModel } from '../node/save-layers-model.js';
import { registerConv2DBackpropFilterForWasm } from '../tensor/conv2d_backprop_filter.js';
import { createRng, permutation } from '../util/rng.js';
import { initCliBackend } from './backend.js';
import { packageVersion } from './context.js';
import { concatArrays, HardenCheckpoint, splitArrays, type DoneAttack, type HardenState } from './harden-checkpoint.js';
import { fmtPct, int, norm, num, openUnit, positive } from './options.js';
import { progressBar } from './progress.js';

/**
 * `uap harden`: makes a model harder to fool with universal perturbations, and measures it the paper's way
 * (Moosavi-Dezfooli et al. 2017, Sec. 3): fooling rate on the test set of (a) the pool of perturbations used
 * for fine-tuning and (b) a fresh universal perturbation computed with the same budget and settings against
 * the original (before) and against the hardened model (after); clean accuracy before/after; wall time.
 */

export type HardenMethod = 'finetune' | 'uat';
/** How the pool and fresh perturbations are computed: Algorithm 1 (DeepFool steps) or SGD on v. */
export type HardenAttack = 'deepfool' | 'sgd';
/** Training targets: the true labels, the original model's clean top-1, or its clean softmax (soft self-distillation). */
export type HardenLabels = 'true' | 'clean' | 'soft';

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
  /** Default 'deepfool' (Algorithm 1). 'sgd': sgdPerturbation with epochs = maxPasses (cheaper on ImageNet models). */
  attack?: HardenAttack;
  /** Attack settings, the same for every perturbation (sgd uses delta and maxPasses only). */
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
  /** Train only the last N layers that have weights (undefined: all); all layers then run in inference mode. */
  trainableLayers?: number;
  /** Default 'true'. */
  labels?: HardenLabels;
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
  settings: Omit<HardenSettings, 'out' | 'modelsDir'> & { attack: HardenAttack; labels: HardenLabels; norm: 'inf'; keepBest: boolean; trainImages: number; testImages: number };
  before: SideRecord;
  after: SideRecord;
  pool: AttackRecord[];
  training: DefenseResult & { uatNormInf?: number };
  wallSeconds: { pool: number; training: number; freshBefore: number; freshAfter: number; evaluation: number; total: number };
  backend: string;
  tfjsVersion: string;
  packageVersion: string;
  createdAt: string;
  /** Present when the run was continued from a checkpoint (--resume). */
  resumed?: true;
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

type State = HardenState<AttackRecord, Omit<SideRecord, 'fresh'>>;

/** Options of a run beyond its settings: Ctrl-C and resume. */
export interface HardenControl {
  /** Stops at the next image (attacks) or minibatch (training); the last checkpoint stays, and runHarden throws INTERRUPTED. */
  signal?: AbortSignal;
  /** Continue from the checkpoint in `out` (refused when it was made with other settings). */
  resume?: boolean;
}

/** The settings a checkpoint must match to be resumed (everything that changes the result). */
function checkpointKey(s: HardenSettings, train: Batch, test: Batch): unknown {
  const { out: _o, modelsDir: _m, ...rest } = s;
  return { ...rest, trainImages: train.n, testImages: test.n };
}

/** 1-based pass with the highest fooling rate on X (the first of equals: keepBest's choice). */
function bestPass(history: readonly PassRecord[]): number {
  let best = 0;
  history.forEach((h, i) => {
    if (best === 0 || h.foolingRate > history[best - 1]!.foolingRate) best = i + 1;
  });
  return best;
}

function interrupted(what: string, out: string): UapError {
  return new UapError('INTERRUPTED', `interrupted during ${what}; the checkpoint in ${out}/checkpoint keeps all completed work: continue with --resume`, out);
}

/**
 * The pool, the defence and the before/after measurements; saves the model and harden.json to `s.out`.
 * Checkpoints into `s.out`/checkpoint after every attack pass, every perturbation, the "before" measurement
 * and every training epoch, so an interrupt (ctl.signal) loses at most one pass or epoch; ctl.resume
 * continues. With the same seed the resumed run computes what the uninterrupted one would have.
 */
export async function runHarden(
  s: HardenSettings,
  train: Batch,
  test: Batch,
  log: (line: string) => void = (l) => console.error(l),
  onBatch?: (e: DefenseProgress) => void,
  ctl: HardenControl = {},
): Promise<HardenReport> {
  const started = Date.now();
  const secs = (t: number) => (Date.now() - t) / 1000;
  registerConv2DBackpropFilterForWasm();
  const ck = new HardenCheckpoint<AttackRecord, Omit<SideRecord, 'fresh'>>(s.out);
  const key = checkpointKey(s, train, test);
  let state: State;
  if (ctl.resume) {
    state = await ck.load();
    if (JSON.stringify(state.settings) !== JSON.stringify(key)) {
      throw new UapError('BAD_ARGUMENT', `the checkpoint was made with other settings: ${JSON.stringify(state.settings)}`, ck.file);
    }
    log(`resuming: ${state.pool.length}/${s.pool} pool perturbations, fresh-before ${state.freshBefore ? 'done' : 'not done'}, ${state.training?.epochs.length ?? 0}/${s.epochs} epochs` +
      (state.attack ? `, ${state.attack.key} after pass ${state.attack.pass}` : ''));
  } else {
    if (ck.exists()) log(`note: ${ck.dir} holds an interrupted run; it is replaced (use --resume to continue it)`);
    await ck.clear();
    state = { formatVersion: 1, settings: key, pool: [], evaluationSeconds: 0, elapsedSeconds: 0 };
  }
  const save = async () => {
    await ck.save({ ...state, elapsedSeconds: state.elapsedSeconds + secs(started) });
  };
  const signal = ctl.signal;

  const original = await loadModel(s.model, { modelsDir: s.modelsDir });
  const io = nodeModelIO({ modelsDir: s.modelsDir });
  const entry = findZooEntry(s.model);
  const { folder, file } = entry ? { folder: io.zoo(entry), file: entry.file } : await io.open(s.model);
  const preprocessing = entry && entry.preprocessing !== 'from-file' ? entry.preprocessing : undefined;
  const layers = await loadLayersModelFromFolder(folder, file, { preprocessing });
  let hardened: Classifier | undefined;
  const optimizer = tf.train.adam(s.learningRate);
  const testSource = batchSource(test);

  const attack = async (c: Classifier, k: number, what: string, id: string): Promise<{ v: Float32Array; rec: AttackRecord }> => {
    const t = Date.now();
    const seed = s.seed * 1000 + k;
    const partial = state.attack?.key === id ? state.attack : undefined;
    const initial = partial ? { v: await ck.readArray(partial.v), pass: partial.pass, history: partial.history } : undefined;
    const X = batchSource(attackSet(train, s.attackSize, s.seed, k));
    let best = partial?.best;
    const common = {
      norm: 'inf' as const,
      xi: s.xi,
      delta: s.delta,
      seed,
      signal,
      initial,
      onProgress: (e: UniversalProgress | SgdProgress) => {
        if (e.phase === 'pass-end') log(`${what}: pass ${e.record.pass}, fooling rate on X ${fmtPct(e.record.foolingRate)} (${e.record.seconds.toFixed(1)} s)`);
      },
      onPassEnd: async (v: Float32Array, history: PassRecord[]) => {
        const name = await ck.writeArray(id, v);
        const b = bestPass(history);
        if (b === history.length) best = { pass: b, foolingRate: history[b - 1]!.foolingRate, v: name };
        state.attack = { key: id, pass: history.length, history, v: name, best, seconds: (partial?.seconds ?? 0) + secs(t) };
        await save();
      },
    };
    // keepBest (Algorithm 1): at large ξ the fooling rate on X swings from pass to pass; the attacker keeps its best v.
    const r =
      s.attack === 'sgd'
        ? await sgdPerturbation(c, X, { ...common, epochs: s.maxPasses })
        : await universalPerturbation(c, X, {
            ...common,
            maxPasses: s.maxPasses,
            deepfoolBatchSize: s.deepfoolBatch,
            step: s.step ?? 2,
            candidates: s.candidates ?? 10,
            keepBest: true,
          });
    if (r.aborted) throw interrupted(what, s.out);
    let v = r.v;
    let rate = r.foolingRate;
    // A resumed Algorithm 1 only knows the passes since the resume; the best may be an earlier one.
    if (s.attack !== 'sgd' && partial?.best && bestPass(r.history) <= partial.pass) {
      v = await ck.readArray(partial.best.v);
      rate = partial.best.foolingRate;
    }
    const rec = { seed, foolingRateOnX: rate, passes: r.passes, seconds: (partial?.seconds ?? 0) + secs(t), normInf: normInf(v) };
    return { v, rec };
  };
  /** Runs (or, on resume, reads back) one perturbation and checkpoints it. */
  const perturbation = async (c: Classifier, k: number, what: string, id: string, done: DoneAttack<AttackRecord> | undefined, keep: (d: DoneAttack<AttackRecord>) => void) => {
    if (done) return { v: await ck.readArray(done.v), rec: done.record };
    const a = await attack(c, k, what, id);
    keep({ record: a.rec, v: await ck.writeArray(id, a.v) });
    state.attack = undefined;
    await save();
    return a;
  };
  const measure = async (c: Classifier, pool: Float32Array[], fresh: Float32Array) => {
    const t = Date.now();
    const cleanPred = await predict(c, testSource, 500);
    let correct = 0;
    cleanPred.forEach((p, i) => (correct += p === test.labels[i] ? 1 : 0));
    const poolRates: number[] = [];
    for (const v of pool) poolRates.push((await evaluatePerturbation(c, testSource, test.labels, v, { cleanPred, batchSize: 500 })).foolingRate);
    const f = await evaluatePerturbation(c, testSource, test.labels, fresh, { cleanPred, batchSize: 500 });
    state.evaluationSeconds += secs(t);
    return { cleanAccuracy: correct / test.n, poolFoolingRates: poolRates, freshFoolingRate: f.foolingRate, freshAccuracyPerturbed: f.accuracyPerturbed };
  };

  try {
    // 0. The layers model must compute what the Classifier computes (preprocessing, logits), or training would optimise another function.
    await checkAgreement(layers, original, test, s.model);
    const trainable = freezeAllButLast(layers, s.trainableLayers, '--trainable-layers');
    if (s.trainableLayers !== undefined) log(`training the last ${trainable.length} layers with weights: ${trainable.join(', ')} (all layers in inference mode)`);

    // 1. The pool, against the original model, on different seeded subsets of the training data.
    const pool: Float32Array[] = [];
    for (let k = 0; k < s.pool; k++) {
      const { v } = await perturbation(original, k, `pool ${k + 1}/${s.pool}`, `pool${k}`, state.pool[k], (d) => state.pool.push(d));
      pool.push(v);
    }
    if (s.method === 'finetune' && pool.length === 0) throw new UapError('BAD_ARGUMENT', 'fine-tuning needs a pool of at least one perturbation', '--pool');

    // 2. Fresh perturbation against the original (the "before" of the fresh attack), on its own subset.
    const FRESH = 1000;
    const freshBefore = await perturbation(original, FRESH, 'fresh vs original', 'fresh-before', state.freshBefore, (d) => (state.freshBefore = d));
    if (!state.before) {
      state.before = await measure(original, pool, freshBefore.v);
      await save();
    }
    const before = { ...state.before, fresh: freshBefore.rec };
    log(`before: clean accuracy ${fmtPct(before.cleanAccuracy)}, pool fooling rates ${before.poolFoolingRates.map(fmtPct).join(', ') || '-'}, fresh ${fmtPct(before.freshFoolingRate)}`);

    // 3. The defence.
    const training = await defend(s, layers, optimizer, original, train, pool, ck, state, save, onBatch, signal, log);
    for (const e of training.epochs) log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, ${fmtPct(e.perturbedShare)} of images perturbed, ${e.seconds.toFixed(1)} s`);

    // 4. Save, and check that loadModel reads the saved model (pixels in, logits out) and agrees with the trained one.
    if (!state.saved) {
      await saveLayersModel(layers, s.out);
      state.saved = true;
      await save();
    }
    hardened = await loadModel(path.resolve(s.out), { modelsDir: s.modelsDir, labels: entry?.labels, preprocessing: { scale: 1, shift: 0 } });
    await checkAgreement(layers, hardened, test, s.out);

    // 5. After: the pool, and a fresh perturbation against the hardened model (same X, seed and settings).
    const freshAfter = await attack(hardened, FRESH, 'fresh vs hardened', 'fresh-after');
    const after = { ...(await measure(hardened, pool, freshAfter.v)), fresh: freshAfter.rec };
    log(`after:  clean accuracy ${fmtPct(after.cleanAccuracy)}, pool fooling rates ${after.poolFoolingRates.map(fmtPct).join(', ') || '-'}, fresh ${fmtPct(after.freshFoolingRate)}`);

    const { out: _o, modelsDir: _m, ...settings } = s;
    const report: HardenReport = {
      formatVersion: 1,
      method: s.method,
      model: s.model,
      hardenedModel: s.out,
      settings: { ...settings, attack: s.attack ?? 'deepfool', labels: s.labels ?? 'true', norm: 'inf', keepBest: s.attack !== 'sgd', trainImages: train.n, testImages: test.n },
      before,
      after,
      pool: state.pool.map((p) => p.record),
      training,
      wallSeconds: {
        pool: state.pool.reduce((a, p) => a + p.record.seconds, 0),
        training: training.seconds,
        freshBefore: freshBefore.rec.seconds,
        freshAfter: freshAfter.rec.seconds,
        evaluation: state.evaluationSeconds,
        total: state.elapsedSeconds + secs(started),
      },
      backend: tf.getBackend(),
      tfjsVersion: tf.version.tfjs,
      packageVersion,
      createdAt: new Date().toISOString(),
      ...(ctl.resume ? { resumed: true } : {}),
    };
    await writeJsonAtomic(path.join(s.out, 'harden.json'), report);
    await ck.clear(); // harden.json now holds everything the checkpoint did
    return report;
  } finally {
    original.dispose();
    hardened?.dispose();
    layers.dispose();
    optimizer.dispose();
  }
}

/** Refuses a layers model whose logits differ from the Classifier's on a few test images. */
async function checkAgreement(layers: tf.LayersModel, c: Classifier, test: Batch, what: string): Promise<void> {
  const probe = Math.min(8, test.n);
  if (probe === 0) return;
  const x = await batchSource(test).get(Int32Array.from({ length: probe }, (_, i) => i));
  const a = layers.predict(x) as tf.Tensor2D;
  const b = await c.logits(x);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
  const scale = tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0]!);
  tf.dispose([x, a, b]);
  if (!(diff <= 1e-3 * Math.max(1, scale))) {
    throw new UapError('BAD_MODEL', `the trainable layers model and the classifier disagree: logits differ by ${diff} (of ${scale})`, what);
  }
}

/**
 * Adam's running powers β₁ᵗ, β₂ᵗ (private fields of tfjs's AdamOptimizer). setWeights recomputes them with
 * pow(), which differs from the running product in the last bits; restoring them makes a resumed run
 * bit-identical to an uninterrupted one.
 */
type AdamInternals = { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
function adamPowers(optimizer: tf.Optimizer): [number, number] | undefined {
  const a = optimizer as unknown as AdamInternals;
  return a.accBeta1 && a.accBeta2 ? [a.accBeta1.dataSync()[0]!, a.accBeta2.dataSync()[0]!] : undefined;
}
function restoreAdamPowers(optimizer: tf.Optimizer, powers: [number, number] | undefined): void {
  const a = optimizer as unknown as AdamInternals;
  if (!powers || !a.accBeta1 || !a.accBeta2) return;
  tf.tidy(() => {
    a.accBeta1!.assign(tf.scalar(powers[0]));
    a.accBeta2!.assign(tf.scalar(powers[1]));
  });
}

/**
 * What the defence trains toward: the true labels; the original model's clean top-1 ('clean'); or its clean
 * softmax ('soft': the labels are then its top-1, the targets the distributions).
 */
async function trainingData(s: HardenSettings, original: Classifier, train: Batch): Promise<TrainingSet> {
  const kind = s.labels ?? 'true';
  if (kind === 'true') return train;
  if (kind === 'clean') return { ...train, labels: await predict(original, batchSource(train), 64) };
  const source = batchSource(train);
  const K = original.labels.ids.length;
  const targets = new Float32Array(train.n * K);
  const labels = new Int32Array(train.n);
  for (let start = 0; start < train.n; start += 64) {
    const idx = Int32Array.from({ length: Math.min(64, train.n - start) }, (_, j) => start + j);
    const x = await source.get(idx);
    const z = await original.logits(x);
    const [p, top] = tf.tidy(() => [tf.softmax(z), tf.argMax(z, 1)]);
    targets.set(await p.data(), start * K);
    labels.set(await top.data(), start);
    tf.dispose([x, z, p, top]);
  }
  return { ...train, labels, targets };
}

/** Step 3: fine-tuning or UAT, resumed from the last checkpointed epoch and checkpointed after each. */
async function defend(
  s: HardenSettings,
  layers: tf.LayersModel,
  optimizer: tf.Optimizer,
  original: Classifier,
  train: Batch,
  pool: Float32Array[],
  ck: HardenCheckpoint<AttackRecord, Omit<SideRecord, 'fresh'>>,
  state: State,
  save: () => Promise<void>,
  onBatch: ((e: DefenseProgress) => void) | undefined,
  signal: AbortSignal | undefined,
  log: (line: string) => void,
): Promise<HardenReport['training']> {
  const prev = state.training;
  let uatV: Float32Array | undefined;
  if (prev) {
    const ws = splitArrays(await ck.readArray(prev.weights), prev.shapes, ck.file).map((w, i) => tf.tensor(w, prev.shapes[i]));
    layers.setWeights(ws);
    tf.dispose(ws);
    if (prev.optimizer && prev.optimizerShapes) {
      const parts = splitArrays(await ck.readArray(prev.optimizer), prev.optimizerShapes, ck.file);
      // Adam's weights are [iterations, first moments…, second moments…]; it matches moments to variables by position.
      const named = parts.map((w, i) => ({ name: i === 0 ? 'iter' : `m${i}`, tensor: tf.tensor(w, prev.optimizerShapes![i]) }));
      await optimizer.setWeights(named);
      tf.dispose(named.map((n) => n.tensor));
      restoreAdamPowers(optimizer, prev.adamPowers);
    }
    if (prev.v) uatV = await ck.readArray(prev.v);
  }
  const uatNormInf = (v: Float32Array | undefined) => (v ? { uatNormInf: normInf(v) } : {});
  if (prev?.done) return { epochs: prev.epochs, steps: prev.steps, seconds: prev.seconds, aborted: false, ...uatNormInf(uatV) };
  if (prev) log(`resuming training after epoch ${prev.epochs.length}`);

  const data = await trainingData(s, original, train);
  const onEpochEnd = async (e: EpochEnd) => {
    const weights = layers.getWeights();
    const opt = await optimizer.getWeights();
    const optParts = await Promise.all(opt.map(async (w) => (await w.tensor.data()) as Float32Array));
    state.training = {
      epochs: [...e.epochs],
      steps: e.steps,
      seconds: (prev?.seconds ?? 0) + e.epochs.slice(prev?.epochs.length ?? 0).reduce((a, r) => a + r.seconds, 0),
      weights: await ck.writeArray('weights', concatArrays(await Promise.all(weights.map(async (w) => (await w.data()) as Float32Array)))),
      shapes: weights.map((w) => w.shape),
      optimizer: await ck.writeArray('optimizer', concatArrays(optParts)),
      optimizerShapes: opt.map((w) => w.tensor.shape),
      adamPowers: adamPowers(optimizer),
      v: e.v ? await ck.writeArray('uat-v', e.v) : undefined,
      done: e.epochs.length === s.epochs,
    };
    await save();
  };
  const common = {
    epochs: s.epochs,
    batchSize: s.batchSize,
    optimizer,
    seed: s.seed,
    probability: s.probability,
    onBatch,
    signal,
    // Frozen layers must not move: tfjs batch norms in training mode would update their statistics.
    training: s.trainableLayers === undefined,
    resume: prev ? { epochs: prev.epochs, steps: prev.steps, seconds: prev.seconds } : undefined,
    onEpochEnd,
  };
  if (s.method === 'finetune') {
    const r = await finetuneWithPerturbations(layers, data, { ...common, pool });
    if (r.aborted) throw interrupted('training', s.out);
    return r;
  }
  const u = await universalAdversarialTraining(layers, data, { ...common, xi: s.xi, stepSize: s.stepSize, initial: uatV });
  if (u.aborted) throw interrupted('training', s.out);
  const { v, ...rest } = u;
  return { ...rest, ...uatNormInf(v) };
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
  /** Commander fills the defaults; callers of hardenCommand may leave these out. */
  attack?: string;
  trainableLayers?: string;
  labels?: string;
  resume?: boolean;
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
    .option('--delta <x>', 'stop a perturbation once it fools 1 − δ of its X (Algorithm 1 and sgd)', '0.2')
    .option('--max-passes <n>', 'at most this many passes over X (Algorithm 1) or epochs (sgd)', '5')
    .option('--deepfool-batch <n>', 'Algorithm 1: images per DeepFool call', '1')
    .option('--step <p>', "Algorithm 1: DeepFool step norm, 2 (the paper's) or inf", '2')
    .option('--candidates <n>', 'Algorithm 1: DeepFool classes considered', '10')
    .option('--epochs <n>', 'fine-tuning epochs', '1')
    .option('--batch-size <n>', 'minibatch size', '64')
    .option('--lr <x>', 'Adam learning rate', '0.0001')
    .option('--probability <x>', 'probability that a training image is perturbed (default: finetune 0.5, uat 1)')
    .option('--step-size <x>', 'uat: ascent step on v (default ξ/10)')
    .option('--attack <name>', 'how the pool and fresh perturbations are computed: deepfool (Algorithm 1) or sgd (SGD on v, --max-passes epochs; much cheaper on ImageNet models)', 'deepfool')
    .option('--trainable-layers <n>', 'train only the last n layers that have weights (e.g. 1: the classifier head); all layers then run in inference mode (default: all layers train)')
    .option('--labels <kind>', 'training targets: true (the labels of the data), clean (the original model\'s own clean top-1) or soft (its clean softmax: self-distillation that keeps classes absent from the training data alive)', 'true')
    .option('--data <spec>', 'training images', 'mnist:train')
    .option('--limit <n>', 'use the first n training images of a seeded shuffle')
    .option('--test <spec>', 'test images for the measurements', 'mnist:test')
    .option('--test-limit <n>', 'use n test images (default: all)')
    .option('--seed <n>', 'seed of the subsets, visiting orders and perturbation draws', '1')
    .requiredOption('--out <dir>', 'where the hardened model (model.json + weights.bin) and harden.json go')
    .option('--resume', 'continue an interrupted run from the checkpoint in --out (same flags)')
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
  const attack = f.attack ?? 'deepfool';
  if (attack !== 'deepfool' && attack !== 'sgd') throw new UapError('BAD_ARGUMENT', `must be deepfool or sgd, got "${attack}"`, '--attack');
  const labels = f.labels ?? 'true';
  if (labels !== 'true' && labels !== 'clean' && labels !== 'soft') throw new UapError('BAD_ARGUMENT', `must be true, clean or soft, got "${labels}"`, '--labels');
  const settings: HardenSettings = {
    model: f.model,
    modelsDir: f.modelsDir,
    method,
    xi: positive('--xi', f.xi),
    pool: int('--pool', f.pool, method === 'finetune' ? 1 : 0),
    attackSize: int('--attack-size', f.attackSize, 1),
    attack,
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
    trainableLayers: f.trainableLayers === undefined ? undefined : int('--trainable-layers', f.trainableLayers, 1),
    labels,
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
  console.error(
    `harden (${method}): ${train.n} training images, ${test.n} test images, ξ = ${settings.xi} (ℓ∞), pool of ${settings.pool}, ` +
      `|X| = ${settings.attackSize}, attack ${settings.attack}`,
  );
  // Ctrl-C: finish the current image or minibatch, keep the last checkpoint, exit 130 (as `uap compute`).
  const controller = new AbortController();
  const onSigint = () => {
    console.error(`\ninterrupt: stopping after the current image or minibatch; completed work stays in ${f.out}/checkpoint`);
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  const bar = progressBar(method);
  let barEpoch = 0;
  let report: HardenReport;
  try {
    report = await runHarden(
      settings,
      train,
      test,
      (l) => console.error(l),
      (e) => {
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
      },
      { signal: controller.signal, resume: f.resume },
    );
  } finally {
    bar.stop();
    process.off('SIGINT', onSigint);
  }
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
