import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LpNorm } from '../attacks/project.js';
import { sgdPerturbation, type SgdProgress } from '../attacks/sgd.js';
import { universalPerturbation, type PassRecord, type UniversalProgress, type UniversalResult } from '../attacks/universal.js';
import { batchSource } from '../data/batch-source.js';
import { UapError } from '../errors.js';
import { findClass } from '../models/labels.js';
import type { PerturbationRecord } from '../io/perturbation-record.js';
import { loadPerturbation, savePerturbation } from '../node/perturbation-files.js';
import { openData, openModel } from './context.js';
import { perturbationRecord } from './record.js';
import { addAlgorithm1Options, augment, fmtPct, int, norm, parseAlgorithm1Options, positive, type Algorithm1Flags } from './options.js';
import { progressBar } from './progress.js';

export interface ComputeFlags extends Algorithm1Flags {
  model: string;
  data: string;
  limit?: string;
  norm: string;
  xi: string;
  seed: string;
  clip: boolean;
  out: string;
  resume?: boolean;
  modelsDir?: string;
  json?: boolean;
  method: string;
  target?: string;
  batchSize: string;
  stepSize?: string;
  loss: string;
  optimizer: string;
  augment: string;
}

/** `uap compute`: Algorithm 1 on a model and a data set; checkpoints after every pass. */
export function registerCompute(program: Command): void {
  const cmd = program
    .command('compute')
    .description('compute a universal perturbation (Algorithm 1 with DeepFool steps) and save it to --out')
    .requiredOption('--model <name>', 'zoo name (see `uap models`), model folder, model.json, .tflite or URL')
    .requiredOption('--data <spec>', 'mnist:train, mnist:test, a folder, a list file, or comma-separated files')
    .option('--limit <n>', 'use the first n images of a seeded shuffle')
    .option('--norm <p>', 'ℓp ball: inf, 2 or 1', 'inf')
    .requiredOption('--xi <x>', 'radius ξ of the ball, in pixel units (0..255 scale), e.g. 10 for ℓ∞ on ImageNet')
    .option('--method <name>', 'deepfool (Algorithm 1 of the paper) or sgd (stochastic gradient on v, Shafahi et al. 2020)', 'deepfool')
    .option('--target <class>', 'targeted: push images to this class (index, wnid or name)');
  addAlgorithm1Options(cmd)
    .option('--batch-size <n>', 'sgd: images per gradient step', '32')
    .option('--step-size <x>', 'sgd: largest step in pixels (default ξ/10)')
    .option('--loss <name>', 'sgd: ce (cross-entropy of the clean prediction) or margin (clamped CW margin)', 'ce')
    .option('--optimizer <name>', 'sgd: sgd (sign steps for ℓ∞) or adam', 'sgd')
    .option('--augment <list>', 'sgd: random views of X at each step, so v fits new photos too: flip, crop (crops of 80–100% of the side), crop:SCALE, or none', 'none')
    .option('--seed <n>', 'seed of the visiting order and of --limit', '1')
    .option('--no-clip', 'do not clip x + v to 0..255')
    .requiredOption('--out <dir>', 'where perturbation.npy/.json/.png go')
    .option('--resume', 'continue from the checkpoint in --out')
    .option('--models-dir <dir>', 'local model mirror (default: env UAP_MODELS_DIR)')
    .option('--json', 'print the final record as JSON on stdout')
    .action(async (flags: ComputeFlags) => {
      const record = await computeCommand(program, flags);
      if (flags.json) console.log(JSON.stringify(record, null, 2));
    });
}

export async function computeCommand(program: Command, f: ComputeFlags): Promise<PerturbationRecord> {
  // Validate every number before any work, so a typo costs nothing and writes nothing.
  const p: LpNorm = norm('--norm', f.norm);
  const xi = positive('--xi', f.xi);
  const alg1 = parseAlgorithm1Options(f, p);
  const { delta, maxPasses } = alg1;
  const seed = int('--seed', f.seed);
  const limit = f.limit === undefined ? undefined : int('--limit', f.limit, 1);
  if (f.method !== 'deepfool' && f.method !== 'sgd') throw new UapError('BAD_ARGUMENT', `must be deepfool or sgd, got "${f.method}"`, '--method');
  if (f.loss !== 'ce' && f.loss !== 'margin') throw new UapError('BAD_ARGUMENT', `must be ce or margin, got "${f.loss}"`, '--loss');
  if (f.optimizer !== 'sgd' && f.optimizer !== 'adam') throw new UapError('BAD_ARGUMENT', `must be sgd or adam, got "${f.optimizer}"`, '--optimizer');
  const sgdOptions = {
    batchSize: int('--batch-size', f.batchSize, 1),
    stepSize: f.stepSize === undefined ? xi / 10 : positive('--step-size', f.stepSize),
    loss: f.loss as 'ce' | 'margin',
    optimizer: f.optimizer as 'sgd' | 'adam',
    augment: augment('--augment', f.augment),
  };
  const options = {
    ...alg1,
    limit: limit ?? null,
  };

  let initial: { v: Float32Array; pass: number; history: PassRecord[] } | undefined;
  let previousSeconds = 0;
  if (f.resume) {
    const ckpt = await loadPerturbation(f.out);
    const r = ckpt.record;
    if (!r) throw new UapError('NOT_FOUND', 'no perturbation.json to resume from', f.out);
    if (r.norm !== p || r.xi !== xi || r.seed !== seed || r.data.spec !== f.data || r.modelId !== f.model) {
      throw new UapError('BAD_ARGUMENT', `the checkpoint was computed with other settings (model ${r.modelId}, data ${r.data.spec}, norm ${r.norm}, ξ ${r.xi}, seed ${r.seed})`, f.out);
    }
    const history: PassRecord[] = r.history.map((h) => ({
      ...h,
      updates: h.updates ?? 0,
      normInf: h.normInf ?? (r.norm === 'inf' ? h.norm : NaN),
      norm2: h.norm2 ?? (r.norm === 2 ? h.norm : NaN),
    }));
    initial = { v: ckpt.data, pass: history.length, history };
    previousSeconds = r.wallSeconds;
    console.error(`resuming after pass ${history.length} (fooling rate on X ${fmtPct(r.foolingRateOnX)})`);
  } else if (existsSync(path.join(f.out, 'perturbation.npy'))) {
    console.error(`note: ${f.out} already holds a perturbation; it will be replaced (use --resume to continue it)`);
  }

  const model = await openModel(program, f.model, f.modelsDir);
  let target: number | undefined;
  if (f.target !== undefined) {
    target = findClass(model.labels, f.target);
    if (target < 0) throw new UapError('BAD_ARGUMENT', `no class "${f.target}" in ${model.id}'s labels (give an index, a wnid or a name)`, '--target');
    console.error(`target: class ${target} (${model.labels.ids[target]} ${model.labels.names[target]})`);
  }
  const X = await openData(f.data, model, { limit, seed, label: 'decode' });
  const started = Date.now();

  const makeRecord = (v: Float32Array, history: PassRecord[], complete: boolean): PerturbationRecord =>
    perturbationRecord({
      modelId: f.model,
      model,
      v,
      norm: p,
      xi,
      method: f.method,
      // Only the settings the method used: DeepFool's for Algorithm 1, the SGD ones for sgd.
      options: { ...(f.method === 'sgd' ? { delta, maxPasses, limit: options.limit, ...sgdOptions } : options), complete },
      seed,
      data: { spec: f.data, n: X.n },
      clip: f.clip,
      history,
      wallSeconds: previousSeconds + (Date.now() - started) / 1000,
      target,
    });

  // Ctrl-C: finish the current image, keep the last completed pass (already on disk), exit 130.
  const controller = new AbortController();
  const onSigint = () => {
    console.error('\ninterrupt: stopping after the current image; the last completed pass stays in ' + f.out);
    controller.abort();
  };
  process.once('SIGINT', onSigint);

  const bar = progressBar('compute');
  let barPass = -1;
  const onProgress = (e: UniversalProgress | SgdProgress) => {
    if (e.phase === 'pass' || e.phase === 'epoch') {
      if (e.pass !== barPass) {
        if (barPass >= 0) bar.stop();
        bar.start(e.total, 0, { status: `pass ${e.pass}` });
        barPass = e.pass;
      }
      const status = e.phase === 'pass' ? `${e.deepfoolCalls} DeepFool calls, ${e.updates} updates` : `loss ${e.loss.toFixed(3)}`;
      bar.update(e.done, { status: `pass ${e.pass}: ${status}` });
    } else if (e.phase === 'pass-end') {
      bar.stop();
      barPass = -1;
      const hit = e.record.targetSuccess === undefined ? '' : `, target success ${fmtPct(e.record.targetSuccess)}`;
      console.error(`pass ${e.record.pass}: fooling rate on X ${fmtPct(e.record.foolingRate)}${hit} (‖v‖∞ ${e.record.normInf.toFixed(2)}, ‖v‖₂ ${e.record.norm2.toFixed(1)}, ${e.record.seconds.toFixed(1)} s)`);
    }
  };

  try {
    const common = {
      norm: p,
      xi,
      seed,
      clip: f.clip,
      delta,
      target,
      signal: controller.signal,
      initial,
      onProgress,
      onPassEnd: async (v: Float32Array, history: PassRecord[]) => {
        await savePerturbation(f.out, v, model.inputShape, makeRecord(v, history, false));
      },
    };
    const result: UniversalResult =
      f.method === 'sgd'
        ? await sgdPerturbation(model, batchSource(X), { ...common, epochs: maxPasses, ...sgdOptions })
        : await universalPerturbation(model, batchSource(X), { ...common, ...options });
    bar.stop();
    if (result.aborted) {
      throw new UapError('INTERRUPTED', `interrupted after ${result.passes} completed passes; continue with --resume`, f.out);
    }
    const record = makeRecord(result.v, result.history, true);
    record.foolingRateOnX = result.foolingRate;
    await savePerturbation(f.out, result.v, model.inputShape, record);
    const targetNote = target === undefined ? '' : `, target success ${fmtPct(result.history.at(-1)?.targetSuccess ?? NaN)}`;
    console.error(
      `fooling rate on X: ${fmtPct(result.foolingRate)} after ${result.passes} passes${targetNote}, ${record.wallSeconds.toFixed(1)} s ` +
        `(x + v ${f.clip ? 'clipped' : 'not clipped'} to 0..255); saved to ${f.out}/perturbation.{npy,json,png}`,
    );
    return record;
  } finally {
    process.off('SIGINT', onSigint);
    model.dispose();
  }
}
