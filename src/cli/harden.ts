import type { Command } from 'commander';
import { UapError, UNIVERSAL_DEFAULTS, type HardenMethod, type HardenReport, type HardenSettings } from '../index.js';
import { hardenInFolder, loadDataset, loadModel, openOutDir } from '../node/index.js';
import { initCliBackend } from './backend.js';
import { addRunOptions, fmtPct, int, norm, num, openUnit, positive } from './options.js';
import { stageBar, withInterrupts } from './progress.js';

/** `uap harden`: flags, validation and progress output around runHarden (src/defense/harden.ts, in a folder: src/node/harden-folder.ts). */

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
  const cmd = program
    .command('harden')
    .description('fine-tune a TF.js layers model against universal perturbations (finetune: the paper, Sec. 3; uat: Shafahi et al. 2020) and measure before/after')
    .requiredOption('--model <name>', 'zoo name (e.g. mnist), model folder or model.json of a TF.js layers model')
    .option('--method <m>', 'finetune (pool of universal perturbations, each image perturbed with probability ½) or uat', 'finetune')
    .option('--xi <x>', 'ℓ∞ radius of the perturbations, pixel units', '77')
    .option('--pool <n>', 'universal perturbations in the pool (computed against the original model)', '3')
    .option('--attack-size <n>', '|X|: training images each universal perturbation is computed on', '1000')
    .option('--delta <x>', 'stop a perturbation once it fools 1 − δ of its X (Algorithm 1 and sgd)', String(UNIVERSAL_DEFAULTS.delta))
    .option('--max-passes <n>', 'at most this many passes over X (Algorithm 1) or epochs (sgd)', '5')
    .option('--deepfool-batch <n>', 'Algorithm 1: images per DeepFool call', String(UNIVERSAL_DEFAULTS.deepfoolBatchSize))
    .option('--step <p>', "Algorithm 1: DeepFool step norm, 2 (the paper's) or inf", '2')
    .option('--candidates <n>', 'Algorithm 1: DeepFool classes considered', String(UNIVERSAL_DEFAULTS.candidates))
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
    .option('--resume', 'continue an interrupted run from the checkpoint in --out (same flags)');
  addRunOptions(cmd, { json: 'print harden.json on stdout' }).action(async (f: HardenFlags) => {
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
    dataSpec: f.data + (limit ? ` (limit ${limit}, seed ${seed})` : ''),
    testSpec: f.test + (testLimit ? ` (limit ${testLimit}, seed ${seed})` : ''),
  };
  // --out checked and locked before any model or data loads (src/node/out-dir.ts).
  const out = await openOutDir(f.out, 'uap harden');
  try {
    return await hardenLocked(program, f, settings, { method, seed, limit, testLimit });
  } finally {
    await out.release();
  }
}

async function hardenLocked(
  program: Command,
  f: HardenFlags,
  settings: HardenSettings,
  { method, seed, limit, testLimit }: { method: HardenMethod; seed: number; limit?: number; testLimit?: number },
): Promise<HardenReport> {
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
  // Ctrl-C: stop at the next image or minibatch, keep the last checkpoint, exit 130 (as `uap compute`).
  const bar = stageBar(method);
  const report: HardenReport = await withInterrupts(`completed work stays in ${f.out}/checkpoint`, (signal) =>
    hardenInFolder(settings, train, test, {
      out: f.out,
      modelsDir: f.modelsDir,
      log: (l) => console.error(l),
      onBatch: (e) => {
        bar.update(`${e.epoch}`, e.batch, e.batches, `epoch ${e.epoch} loss ${e.loss.toFixed(4)}`);
        if (e.batch === e.batches) bar.stop();
      },
      signal,
      resume: f.resume,
    }),
  ).finally(() => bar.stop());
  const b = report.before;
  const a = report.after;
  console.error(
    `clean accuracy ${fmtPct(b.cleanAccuracy)} → ${fmtPct(a.cleanAccuracy)}; fresh universal perturbation (ξ ${settings.xi}) fooling rate ` +
      `${fmtPct(b.freshFoolingRate)} → ${fmtPct(a.freshFoolingRate)} (error rate ${fmtPct(b.freshErrorRate)} → ${fmtPct(a.freshErrorRate)}); ` +
      (b.poolFoolingRates.length ? `pool ${b.poolFoolingRates.map(fmtPct).join('/')} → ${a.poolFoolingRates.map(fmtPct).join('/')}; ` : '') +
      `${report.wallSeconds.total.toFixed(0)} s (training ${report.wallSeconds.training.toFixed(0)} s); saved to ${f.out}/{model.json,weights.bin,harden.json}`,
  );
  return report;
}
