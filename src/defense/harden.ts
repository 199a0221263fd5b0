import * as tf from '@tensorflow/tfjs';
import { sgdPerturbation, type SgdProgress } from '../attacks/sgd.js';
import { UNIVERSAL_DEFAULTS, universalPerturbation, type PassRecord, type UniversalProgress } from '../attacks/universal.js';
import { batchSource } from '../data/batch-source.js';
import { selectBatch, type Batch } from '../data/batch.js';
import { UapError } from '../errors.js';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import type { Classifier } from '../models/classifier.js';
import { loadModel } from '../models/load.js';
import { predict } from '../models/predict.js';
import { findZooEntry } from '../models/zoo.js';
import { registerConv2DBackpropFilterForWasm } from '../tensor/conv2d_backprop_filter.js';
import { fmtPct } from '../util/format.js';
import { createRng, permutation } from '../util/rng.js';
import { VERSION } from '../version.js';
import { concatArrays, splitArrays, type DoneAttack, type HardenCheckpointStore, type HardenState } from './checkpoint.js';
import { finetuneWithPerturbations, type DefenseProgress, type DefenseResult, type EpochEnd, type TrainingSet } from './finetune.js';
import { freezeAllButLast } from './head.js';
import { loadLayersModelFromFolder } from './layers-model.js';
import type { ModelStore } from './model-store.js';
import { universalAdversarialTraining } from './universal-adversarial-training.js';

/**
 * The defence protocol behind `uap harden`: the pool, the defence and the before/after measurements, checkpointed
 * as it goes into an injected store (HardenCheckpointStore), reading and saving models through a ModelStore.
 * It measures hardening the paper's way (Moosavi-Dezfooli et al. 2017, Sec. 3): fooling rate on the test set of
 * (a) the pool of perturbations used for fine-tuning and (b) a fresh universal perturbation computed with the same
 * budget and settings against the original (before) and against the hardened model (after); clean accuracy
 * before/after; wall time. uap/node runs it in a folder (src/node/harden-folder.ts); the CLI shell is
 * src/cli/harden.ts.
 */

export type HardenMethod = 'finetune' | 'uat';
/** How the pool and fresh perturbations are computed: Algorithm 1 (DeepFool steps) or SGD on v. */
export type HardenAttack = 'deepfool' | 'sgd';
/** Training targets: the true labels, the original model's clean top-1, or its clean softmax (soft self-distillation). */
export type HardenLabels = 'true' | 'clean' | 'soft';

/** The settings of a hardening run (`uap harden`): model, defence, budget, attack and training options. */
export interface HardenSettings {
  /** The model to harden, as the ModelStore's io opens it (zoo name, folder, model.json …): a TF.js layers model. */
  model: string;
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
  /** Data specs, for the record. */
  dataSpec: string;
  testSpec: string;
}

/** One universal perturbation computed during hardening: its seed, fooling rate on X, passes, time and ℓ∞ norm. */
export interface AttackRecord {
  seed: number;
  foolingRateOnX: number;
  passes: number;
  seconds: number;
  normInf: number;
}

/** Measurements of one model (before or after the defence) on the test images. */
export interface SideRecord {
  cleanAccuracy: number;
  /** Fooling rate on the test images of each pool perturbation. */
  poolFoolingRates: number[];
  /** Fooling rate on the test images of a universal perturbation computed against this model. */
  freshFoolingRate: number;
  freshAccuracyPerturbed: number;
  /** 1 − freshAccuracyPerturbed over the labelled test images (what SGA and ART call the fooling rate); NaN without labels. */
  freshErrorRate: number;
  fresh: AttackRecord;
}

/**
 * The result of a hardening run (harden.json): settings, the before and after measurements, the pool, training and
 * wall times.
 */
export interface HardenReport {
  formatVersion: 1;
  method: HardenMethod;
  model: string;
  hardenedModel: string;
  settings: HardenSettings & { attack: HardenAttack; labels: HardenLabels; norm: 'inf'; keepBest: boolean; trainImages: number; testImages: number };
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

/** The checkpoint runHarden keeps. */
export type HardenCheckpointOf = HardenCheckpointStore<AttackRecord, Omit<SideRecord, 'fresh'>>;

/** Where a run reads and keeps things: its checkpoint and its models. */
export interface HardenStores {
  checkpoint: HardenCheckpointOf;
  models: ModelStore;
}

/** Options of a run beyond its settings: progress, Ctrl-C and resume. */
export interface HardenControl {
  /** One line per step (default: console.error). */
  log?: (line: string) => void;
  /** Every training minibatch. */
  onBatch?: (e: DefenseProgress) => void;
  /** Stops at the next image (attacks) or minibatch (training); the last checkpoint stays, and runHarden throws INTERRUPTED. */
  signal?: AbortSignal;
  /** Continue from the checkpoint (refused when it was made with other settings). */
  resume?: boolean;
}

/** The settings a checkpoint must match to be resumed (everything that changes the result). */
function checkpointKey(s: HardenSettings, train: Batch, test: Batch): unknown {
  return { ...s, trainImages: train.n, testImages: test.n };
}

/** 1-based pass with the highest fooling rate on X (the first of equals: keepBest's choice). */
function bestPass(history: readonly PassRecord[]): number {
  let best = 0;
  history.forEach((h, i) => {
    if (best === 0 || h.foolingRate > history[best - 1]!.foolingRate) best = i + 1;
  });
  return best;
}

function interrupted(what: string, ck: HardenCheckpointOf): UapError {
  return new UapError('INTERRUPTED', `interrupted during ${what}; the checkpoint keeps all completed work`, ck.where, {
    hint: { option: 'resume', text: '(with the same settings) to continue' },
  });
}

/**
 * The pool, the defence and the before/after measurements; saves the hardened model to `stores.models` and
 * the report to `stores.checkpoint` (complete). Checkpoints after every attack pass, every perturbation, the
 * "before" measurement and every training epoch, so an interrupt (ctl.signal) loses at most one pass or
 * epoch; ctl.resume continues. With the same seed the resumed run computes what the uninterrupted one would have.
 */
export async function runHarden(s: HardenSettings, train: Batch, test: Batch, stores: HardenStores, ctl: HardenControl = {}): Promise<HardenReport> {
  const started = Date.now();
  const secs = (t: number) => (Date.now() - t) / 1000;
  const log = ctl.log ?? ((l: string) => console.error(l));
  registerConv2DBackpropFilterForWasm();
  const ck = stores.checkpoint;
  const key = checkpointKey(s, train, test);
  let state: State;
  if (ctl.resume) {
    state = await ck.load();
    if (JSON.stringify(state.settings) !== JSON.stringify(key)) {
      throw new UapError('BAD_ARGUMENT', `the checkpoint was made with other settings: ${JSON.stringify(state.settings)}`, ck.where);
    }
    log(`resuming: ${state.pool.length}/${s.pool} pool perturbations, fresh-before ${state.freshBefore ? 'done' : 'not done'}, ${state.training?.epochs.length ?? 0}/${s.epochs} epochs` +
      (state.attack ? `, ${state.attack.key} after pass ${state.attack.pass}` : ''));
  } else {
    if (await ck.exists()) log(`note: ${ck.where} holds an interrupted run; it is replaced (resume continues it)`);
    await ck.clear();
    state = { formatVersion: 1, settings: key, pool: [], evaluationSeconds: 0, elapsedSeconds: 0 };
  }
  const save = async () => {
    await ck.save({ ...state, elapsedSeconds: state.elapsedSeconds + secs(started) });
  };
  const signal = ctl.signal;

  const io = stores.models.io;
  const original = await loadModel(s.model, { io });
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
            candidates: s.candidates ?? UNIVERSAL_DEFAULTS.candidates,
            keepBest: true,
          });
    if (r.aborted) throw interrupted(what, ck);
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
    return { cleanAccuracy: correct / test.n, poolFoolingRates: poolRates, freshFoolingRate: f.foolingRate, freshAccuracyPerturbed: f.accuracyPerturbed, freshErrorRate: f.errorRate };
  };

  try {
    // 0. The layers model must compute what the Classifier computes (preprocessing, logits), or training would optimise another function.
    await checkAgreement(layers, original, test, s.model);
    const trainable = freezeAllButLast(layers, s.trainableLayers, 'trainableLayers');
    if (s.trainableLayers !== undefined) log(`training the last ${trainable.length} layers with weights: ${trainable.join(', ')} (all layers in inference mode)`);

    // 1. The pool, against the original model, on different seeded subsets of the training data.
    const pool: Float32Array[] = [];
    for (let k = 0; k < s.pool; k++) {
      const { v } = await perturbation(original, k, `pool ${k + 1}/${s.pool}`, `pool${k}`, state.pool[k], (d) => state.pool.push(d));
      pool.push(v);
    }
    if (s.method === 'finetune' && pool.length === 0) throw new UapError('BAD_ARGUMENT', 'fine-tuning needs a pool of at least one perturbation', 'pool');

    // 2. Fresh perturbation against the original (the "before" of the fresh attack), on its own subset.
    const FRESH = 1000;
    const freshBefore = await perturbation(original, FRESH, 'fresh vs original', 'fresh-before', state.freshBefore, (d) => (state.freshBefore = d));
    if (!state.before) {
      state.before = await measure(original, pool, freshBefore.v);
      await save();
    }
    const before = { ...state.before, fresh: freshBefore.rec };
    log(`before: clean accuracy ${fmtPct(before.cleanAccuracy)}, pool fooling rates ${before.poolFoolingRates.map(fmtPct).join(', ') || '-'}, fresh ${fmtPct(before.freshFoolingRate)} (error rate ${fmtPct(before.freshErrorRate)})`);

    // 3. The defence.
    const training = await defend(s, layers, optimizer, original, train, pool, ck, state, save, ctl.onBatch, signal, log);
    for (const e of training.epochs) log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, ${fmtPct(e.perturbedShare)} of images perturbed, ${e.seconds.toFixed(1)} s`);

    // 4. Save, and check that loadModel reads the saved model (pixels in, logits out) and agrees with the trained one.
    if (!state.saved) {
      state.saved = await stores.models.save(layers);
      await save();
    }
    hardened = await loadModel(state.saved, { io, labels: entry?.labels, preprocessing: { scale: 1, shift: 0 } });
    await checkAgreement(layers, hardened, test, state.saved);

    // 5. After: the pool, and a fresh perturbation against the hardened model (same X, seed and settings).
    const freshAfter = await attack(hardened, FRESH, 'fresh vs hardened', 'fresh-after');
    const after = { ...(await measure(hardened, pool, freshAfter.v)), fresh: freshAfter.rec };
    log(`after:  clean accuracy ${fmtPct(after.cleanAccuracy)}, pool fooling rates ${after.poolFoolingRates.map(fmtPct).join(', ') || '-'}, fresh ${fmtPct(after.freshFoolingRate)} (error rate ${fmtPct(after.freshErrorRate)})`);

    const report: HardenReport = {
      formatVersion: 1,
      method: s.method,
      model: s.model,
      hardenedModel: state.saved,
      settings: { ...s, attack: s.attack ?? 'deepfool', labels: s.labels ?? 'true', norm: 'inf', keepBest: s.attack !== 'sgd', trainImages: train.n, testImages: test.n },
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
      packageVersion: VERSION,
      createdAt: new Date().toISOString(),
      ...(ctl.resume ? { resumed: true } : {}),
    };
    await ck.complete(report); // the report holds everything the checkpoint did
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
  ck: HardenCheckpointOf,
  state: State,
  save: () => Promise<void>,
  onBatch: ((e: DefenseProgress) => void) | undefined,
  signal: AbortSignal | undefined,
  log: (line: string) => void,
): Promise<HardenReport['training']> {
  const prev = state.training;
  let uatV: Float32Array | undefined;
  if (prev) {
    const ws = splitArrays(await ck.readArray(prev.weights), prev.shapes, ck.where).map((w, i) => tf.tensor(w, prev.shapes[i]));
    layers.setWeights(ws);
    tf.dispose(ws);
    if (prev.optimizer && prev.optimizerShapes) {
      const parts = splitArrays(await ck.readArray(prev.optimizer), prev.optimizerShapes, ck.where);
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
    if (r.aborted) throw interrupted('training', ck);
    return r;
  }
  const u = await universalAdversarialTraining(layers, data, { ...common, xi: s.xi, stepSize: s.stepSize, initial: uatV });
  if (u.aborted) throw interrupted('training', ck);
  const { v, ...rest } = u;
  return { ...rest, ...uatNormInf(v) };
}
