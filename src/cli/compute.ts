import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  batchSource,
  wideBatchSource,
  findClass,
  SGA_DEFAULTS,
  sgaPerturbation,
  SGD_DEFAULTS,
  sgdPerturbation,
  UapError,
  universalPerturbation,
  type Batch,
  type LpNorm,
  type PassRecord,
  type PassState,
  type PerturbationRecord,
  type SgdProgress,
  type UniversalProgress,
  type UniversalResult,
} from '../index.js';
import { loadPerturbation, openOutDir, savePerturbation } from '../node/index.js';
import { openData } from './context.js';
import { openModelOrEnsemble } from './ensemble.js';
import { perturbationRecord } from './record.js';
import { checkResumeSettings, checkResumeTarget } from './resume-settings.js';
import {
  addAlgorithm1Options,
  addModelAndData,
  addRunOptions,
  addSgdOptions,
  fmtPct,
  int,
  norm,
  openUnit,
  parseAlgorithm1Options,
  parseSgaOptions,
  parseSgdOptions,
  positive,
  type Algorithm1Flags,
  type SgdFlags,
} from './options.js';
import { fmtErrorRate, fmtMeasures, stageBar, withInterrupts } from './progress.js';
import { addQueueOptions, openQueuedSgd, type QueueFlags } from './queued.js';

export interface ComputeFlags extends Algorithm1Flags, SgdFlags, QueueFlags {
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
  /** Default: the recipe (DEFAULT_RECIPE). */
  method?: string;
  target?: string;
}

/** The methods of `uap compute`. */
export const METHODS = ['sga', 'sgd', 'deepfool'] as const;
export type Method = (typeof METHODS)[number];
/**
 * What `uap compute` runs without --method: the recipe that measured best (README.md, "Default recipe"), as
 * the flags it stands for; a flag on the command line overrides the recipe's. Every other setting is the
 * method's library default (SGA_DEFAULTS). With --method, only that method's defaults apply.
 */
export const DEFAULT_RECIPE = {
  method: 'sga',
  flags: { batchSize: '25', loss: 'ce', momentum: '0.9', augment: 'flip,crop', maxPasses: '10' },
  /** What it measured, for --help (the README has the table). */
  why:
    'at ℓ∞ 10 with 500 train photos it fools 94.0–95.5% of 200 unseen val photos on mobilenet_v1_0.25_224 and its ONNX port, ' +
    '88.0% on mobilenet_v1_0.75_224, 88.5% on mobilenet_v2_1.0_224_quant and 91.5% on tiny_darknet ' +
    '(outer batch 50 over 5 epochs, the previous default: 95.5%, 86.5%, 85.0%, 91.0%; the SGD recipe on mobilenet_v1_0.75_224: 78.5%)',
} as const satisfies { method: Method; flags: Partial<Record<keyof ComputeFlags, string>>; why: string };

/** The flags of a run: the recipe's, then the command line's, when --method is not given. */
function withRecipe(f: ComputeFlags): ComputeFlags {
  if (f.method !== undefined) return f;
  const given = Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_RECIPE.flags, ...given, method: DEFAULT_RECIPE.method } as ComputeFlags;
}

/** The recipe as the command line it stands for. */
export function recipeFlags(): string[] {
  const kebab = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return ['--method', DEFAULT_RECIPE.method, ...Object.entries(DEFAULT_RECIPE.flags).flatMap(([k, v]) => [kebab(k), v])];
}

/** `uap compute`: Algorithm 1 (or SGD) on a model and a data set; checkpoints after every pass. */
export function registerCompute(program: Command): void {
  const cmd = program.command('compute').description(`compute a universal perturbation (default: the recipe below, ${DEFAULT_RECIPE.method}; --method deepfool: Algorithm 1 of the paper) and save it to --out`)
    .option('--limit <n>', 'use the first n images of a seeded shuffle')
    .option('--norm <p>', 'ℓp ball: inf, 2 or 1', 'inf')
    .requiredOption('--xi <x>', 'radius ξ of the ball, in pixel units (0..255 scale), e.g. 10 for ℓ∞ on ImageNet')
    .option('--method <name>', `sga (stochastic gradient aggregation, Liu et al. ICCV 2023), sgd (stochastic gradient on v, Shafahi et al. AAAI 2020) or deepfool (Algorithm 1 of the paper) (default: the recipe, ${recipeFlags().join(' ')})`)
    .option('--target <class>', 'targeted: push images to this class (index, wnid or name)');
  const perMethod = {
    delta: 'deepfool: default 0.2; sgd, sga: none, every epoch runs; "none": every epoch',
    maxPasses: `deepfool: default 10; sgd: epochs, default ${SGD_DEFAULTS.epochs}; sga: epochs, default ${SGA_DEFAULTS.epochs}`,
  };
  addSgdOptions(addAlgorithm1Options(addModelAndData(cmd, 'mnist:train, mnist:test, a folder, a list file, comma-separated files, or a data-free prior: prior:gaussian or prior:jigsaw[:N]; PHOTOS+prior:jigsaw[:N]: photos and a prior', 'zoo name (see `uap models`), model folder, model.json, .tflite, .onnx or URL; A,B,…: an ensemble (the loss summed over the models, same input size)'), { perMethod }))
    .option('--seed <n>', 'seed of the visiting order and of --limit', '1')
    .requiredOption('--out <dir>', 'where perturbation.npy/.json/.png go')
    .option('--resume', 'continue from the checkpoint in --out');
  cmd.addHelpText('after', DEFAULT_RECIPE_HELP);
  addRunOptions(addQueueOptions(cmd, { gradients: true }), { clip: 'do not clip x + v to 0..255', json: 'print the final record as JSON on stdout' }).action(async (flags: ComputeFlags) => {
    const record = await computeCommand(program, flags);
    if (flags.json) console.log(JSON.stringify(record, null, 2));
  });
}

/** The flags only the gradient attacks (sgd, sga) take: refused with deepfool rather than ignored. */
const GRADIENT_FLAGS = new Set<keyof ComputeFlags>(['batchSize', 'minibatch', 'innerSteps', 'stepSize', 'innerStepSize', 'schedule', 'loss', 'beta', 'kappa', 'momentum', 'optimizer', 'augment']);

/** What `uap compute --help` says of the default recipe (README.md's "Default recipe" holds the numbers). */
const DEFAULT_RECIPE_HELP = (() => {
  const D = SGA_DEFAULTS;
  const rest: Array<[keyof typeof DEFAULT_RECIPE.flags | 'batchSize' | 'minibatch' | 'innerSteps' | 'schedule' | 'momentum' | 'maxPasses', string]> = [
    ['batchSize', `outer batch ${D.batchSize}`],
    ['minibatch', `minibatch ${D.minibatch}`],
    ['innerSteps', `K = ${D.innerSteps} inner steps`],
    ['schedule', `step ξ/10 (${D.schedule})`],
    ['momentum', `momentum ${D.momentum}`],
    ['maxPasses', `${D.epochs} epochs`],
  ];
  const recipe: Record<string, string> = DEFAULT_RECIPE.flags;
  const others = rest.filter(([k]) => recipe[k] === undefined).map(([, text]) => text);
  return `
Default recipe (no --method): ${recipeFlags().join(' ')}
  with sga's defaults for the rest (${others.join(', ')}), every epoch (no δ).
  Why: ${DEFAULT_RECIPE.why} (README.md, "Default recipe").
--method sga alone is SGA as published (loss ${D.loss}, β = ${D.beta}, no augmentation).
Algorithm 1 of the paper: --method deepfool (stops at 1 − δ, δ = 0.2).
`;
})();

/** Every setting of a compute run, from its flags, checked before any model or data loads (test/readme-defaults.test.ts reads the defaults here). */
export function computeSettings(flags: ComputeFlags) {
  const f = withRecipe(flags);
  const p: LpNorm = norm('--norm', f.norm);
  const xi = positive('--xi', f.xi);
  const seed = int('--seed', f.seed);
  const limit = f.limit === undefined ? null : int('--limit', f.limit, 1);
  const method = f.method as Method;
  if (!METHODS.includes(method)) throw new UapError('BAD_ARGUMENT', `must be ${METHODS.join(', ')}, got "${f.method}"`, '--method');
  const ball = { norm: p, xi };
  if (method === 'deepfool') {
    const sgdOnly = (Object.keys(f) as Array<keyof ComputeFlags>).find((k) => GRADIENT_FLAGS.has(k) && f[k] !== undefined);
    if (sgdOnly) throw new UapError('BAD_ARGUMENT', 'applies to --method sgd or sga, not deepfool', `--${sgdOnly.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    const alg1 = parseAlgorithm1Options(f, ball);
    return { method, norm: p, xi, seed, limit, alg1, recorded: { ...alg1, limit } };
  }
  // The gradient attacks: δ is optional (none: every epoch runs) and the epochs are the method's own default.
  const keepBest = parseAlgorithm1Options({ ...f, delta: undefined, maxPasses: undefined }, ball).keepBest; // DeepFool's flags are checked (and unused)
  const delta = f.delta === undefined || f.delta === 'none' ? undefined : openUnit('--delta', f.delta);
  const maxPasses = f.maxPasses === undefined ? (method === 'sga' ? SGA_DEFAULTS : SGD_DEFAULTS).epochs : int('--max-passes', f.maxPasses, 1);
  const gradient = method === 'sga' ? parseSgaOptions(f, ball) : parseSgdOptions(f, ball);
  // What perturbation.json records: only the settings the method used (no delta: every epoch ran).
  return { method, norm: p, xi, seed, limit, gradient, delta, maxPasses, keepBest, recorded: { ...(delta === undefined ? {} : { delta }), maxPasses, limit, ...gradient, keepBest } };
}

/** The checkpoint in --out as a resume state, after checking it was computed with the same settings. */
async function resumeState(f: ComputeFlags, s: ReturnType<typeof computeSettings>): Promise<{ initial: PassState; seconds: number; record: PerturbationRecord }> {
  const ckpt = await loadPerturbation(f.out, { repair: true });
  const r = ckpt.record;
  if (!r) throw new UapError('NOT_FOUND', 'no perturbation.json to resume from', f.out);
  checkResumeSettings(
    r,
    { modelId: f.model, data: f.data, norm: s.norm, xi: s.xi, seed: s.seed, method: s.method, clip: f.clip, options: s.recorded },
    f.out,
  );
  const history: PassRecord[] = r.history.map(({ norm: _norm, deepfoolCalls, ...h }) => ({
    ...h,
    ...(s.method !== 'deepfool' || deepfoolCalls === undefined ? {} : { deepfoolCalls }), // an SGD/SGA record has no DeepFool fields
    updates: h.updates ?? 0,
    normInf: h.normInf ?? (r.norm === 'inf' ? _norm : NaN),
    norm2: h.norm2 ?? (r.norm === 2 ? _norm : NaN),
  }));
  console.error(`resuming after pass ${history.length} (${fmtMeasures(r.foolingRateOnX, r.errorRateOnX, 'on X')})`);
  return { initial: { v: ckpt.data, pass: history.length, history }, seconds: r.wallSeconds, record: r };
}

export async function computeCommand(program: Command, f: ComputeFlags): Promise<PerturbationRecord> {
  // Every flag is checked before any work, so a typo costs nothing and writes nothing.
  const s = computeSettings(f);
  // --out checked (a folder, writable, not full) and locked before any work: a second run would silently
  // replace this one's result, and a bad --out found at the first save would lose that pass.
  const out = await openOutDir(f.out, 'uap compute');
  try {
    return await computeLocked(program, f, s);
  } finally {
    await out.release();
  }
}

async function computeLocked(program: Command, f: ComputeFlags, s: ReturnType<typeof computeSettings>): Promise<PerturbationRecord> {
  const resumed = f.resume ? await resumeState(f, s) : undefined;
  if (!f.resume && existsSync(path.join(f.out, 'perturbation.npy'))) {
    console.error(`note: ${f.out} already holds a perturbation; it will be replaced (use --resume to continue it)`);
  }

  const model = await openModelOrEnsemble(program, f.model, f.modelsDir);
  try {
    let target: number | undefined;
    if (f.target !== undefined) {
      target = findClass(model.labels, f.target);
      if (target < 0) throw new UapError('BAD_ARGUMENT', `no class "${f.target}" in ${model.id}'s labels (give an index, a wnid or a name)`, '--target');
      console.error(`target: class ${target} (${model.labels.ids[target]} ${model.labels.names[target]})`);
    }
    if (resumed) checkResumeTarget(resumed.record, target, f.out);
    // With --queue the workers decode the data; here only the images the attack asks for (one, for a shape check).
    const queued = f.queue ? await openQueuedSgd({ ...f, method: s.method, queue: f.queue }, model, { limit: s.limit ?? undefined, seed: s.seed }) : undefined;
    // The shift view draws windows from the photos around the model's crop: decode them wider (wideBatchSource).
    const wide = s.method !== 'deepfool' && s.gradient.augment?.shift === true;
    const X = queued ? { n: queued.source.size } : await openData(f.data, model, { limit: s.limit ?? undefined, seed: s.seed, label: 'decode', wide });
    const started = Date.now();
    const makeRecord = (v: Float32Array, history: PassRecord[], complete: boolean): PerturbationRecord =>
      perturbationRecord({
        modelId: f.model,
        model,
        v,
        norm: s.norm,
        xi: s.xi,
        method: s.method,
        options: { ...s.recorded, complete },
        seed: s.seed,
        data: { spec: f.data, n: X.n },
        clip: f.clip,
        history,
        wallSeconds: (resumed?.seconds ?? 0) + (Date.now() - started) / 1000,
        target,
      });

    const bar = stageBar('compute');
    const onProgress = (e: UniversalProgress | SgdProgress) => {
      if (e.phase === 'pass') bar.update(`${e.pass}`, e.done, e.total, `pass ${e.pass}: ${e.deepfoolCalls} DeepFool calls, ${e.updates} updates`);
      else if (e.phase === 'epoch') bar.update(`${e.pass}`, e.done, e.total, `pass ${e.pass}: loss ${e.loss.toFixed(3)}`);
      else if (e.phase === 'pass-end') {
        bar.stop();
        const r = e.record;
        const hit = r.targetSuccess === undefined ? '' : `, target success ${fmtPct(r.targetSuccess)}`;
        console.error(`pass ${r.pass}: ${fmtMeasures(r.foolingRate, r.errorRate, 'on X')}${hit} (‖v‖∞ ${r.normInf.toFixed(2)}, ‖v‖₂ ${r.norm2.toFixed(1)}, ${r.seconds.toFixed(1)} s)`);
      }
    };
    // Ctrl-C: stop at the next step; the last completed pass is already on disk (onPassEnd).
    const result: UniversalResult = await withInterrupts(`the last completed pass stays in ${f.out}`, (signal) => {
      const common = {
        norm: s.norm,
        xi: s.xi,
        seed: s.seed,
        clip: f.clip,
        target,
        labels: queued ? undefined : (X as Batch).labels,
        signal,
        initial: resumed?.initial,
        onProgress,
        onPassEnd: async (v: Float32Array, history: PassRecord[]) => {
          await savePerturbation(f.out, v, model.inputShape, makeRecord(v, history, false));
        },
      };
      if (s.method === 'deepfool') return universalPerturbation(model, batchSource(X as Batch), { ...common, ...s.alg1 });
      const source = queued?.source ?? (wide ? wideBatchSource(X as Batch, [model.inputShape[0], model.inputShape[1]]) : batchSource(X as Batch));
      const gradient = { ...common, delta: s.delta, epochs: s.maxPasses, keepBest: s.keepBest, ...queued?.options };
      return s.method === 'sga' ? sgaPerturbation(model, source, { ...gradient, ...s.gradient }) : sgdPerturbation(model, source, { ...gradient, ...s.gradient });
    }).finally(() => {
      bar.stop();
      return queued?.close();
    });
    if (result.aborted) {
      throw new UapError('INTERRUPTED', `interrupted after ${result.passes} completed passes; continue with --resume`, f.out);
    }
    const record = makeRecord(result.v, result.history, true);
    record.foolingRateOnX = result.foolingRate;
    record.errorRateOnX = Number.isNaN(result.errorRate) ? null : result.errorRate;
    record.accuracyCleanOnX = Number.isNaN(result.accuracyClean) ? null : result.accuracyClean;
    await savePerturbation(f.out, result.v, model.inputShape, record);
    const targetNote = target === undefined ? '' : `, target success ${fmtPct(result.history.at(-1)?.targetSuccess ?? NaN)}`;
    console.error(
      `fooling rate on X: ${fmtPct(result.foolingRate)}, error rate on X: ${fmtErrorRate(record.errorRateOnX)}${Number.isNaN(result.accuracyClean) ? '' : ` (clean accuracy ${fmtPct(result.accuracyClean)})`} after ${result.passes} passes${targetNote}, ${record.wallSeconds.toFixed(1)} s ` +
        `(x + v ${f.clip ? 'clipped' : 'not clipped'} to 0..255); saved to ${f.out}/perturbation.{npy,json,png}`,
    );
    return record;
  } finally {
    model.dispose();
  }
}
