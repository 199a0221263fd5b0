import {
  resolveSgdOptions,
  resolveUniversalOptions,
  SGD_DEFAULTS,
  SGD_LOSSES,
  SGD_OPTIMIZERS,
  UapError,
  UNIVERSAL_DEFAULTS,
  type AugmentOptions,
  type LpNorm,
  type SgdOptions,
  type UniversalOptions,
} from '../index.js';

/** Parsers for CLI values: each names the flag it rejects. */

export function num(flag: string, value: string): number {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new UapError('BAD_ARGUMENT', `not a number: "${value}"`, flag);
  return x;
}

export function positive(flag: string, value: string): number {
  const x = num(flag, value);
  if (!(x > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${value}`, flag);
  return x;
}

/** An integer ≥ min that is exact in a double (≤ 2^53 − 1): 1e300 "is an integer" but no seed or count. */
export function int(flag: string, value: string, min = 0): number {
  const x = num(flag, value);
  if (!Number.isInteger(x) || x < min) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ ${min}, got ${value}`, flag);
  if (!Number.isSafeInteger(x)) throw new UapError('BAD_ARGUMENT', `must be an integer from ${min} to ${Number.MAX_SAFE_INTEGER}, got ${value}`, flag);
  return x;
}

export function openUnit(flag: string, value: string): number {
  const x = num(flag, value);
  if (!(x > 0 && x < 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1), got ${value}`, flag);
  return x;
}

export function norm(flag: string, value: string): LpNorm {
  if (value === 'inf' || value === 'Infinity' || value === 'linf') return 'inf';
  if (value === '2' || value === 'l2') return 2;
  if (value === '1' || value === 'l1') return 1;
  throw new UapError('BAD_ARGUMENT', `must be inf, 2 or 1, got "${value}"`, flag);
}

export function fmtPct(x: number): string {
  return Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}

/**
 * The CLI flag of each attack option whose flag is not simply its kebab-case name, for the library
 * validators' messages: they name `maxIterDeepFool`, the user typed --max-iter-deepfool.
 */
const FLAG_OF: Record<string, string> = {
  maxIterDeepFool: '--max-iter-deepfool',
  deepfoolBatchSize: '--deepfool-batch',
  epochs: '--max-passes',
};

/**
 * Runs a library validator; a BAD_ARGUMENT naming an option is re-thrown naming the option's flag (`flags`
 * overrides the usual spelling for a command whose flag names the option otherwise).
 */
export function asFlags<T>(validate: () => T, flags: Record<string, string> = {}): T {
  try {
    return validate();
  } catch (e) {
    if (!(e instanceof UapError) || e.code !== 'BAD_ARGUMENT' || e.input === undefined || !/^[a-z][A-Za-z]*$/.test(e.input)) throw e;
    const flag = flags[e.input] ?? FLAG_OF[e.input] ?? `--${e.input.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UapError(e.code, e.message.slice(e.input.length + 2), flag);
  }
}

/** The ball of a perturbation, common to every attack's validation. */
interface BallSettings {
  norm: LpNorm;
  xi: number;
}

type WithOption<T> = { option: (flags: string, description: string, value?: string) => T };

/** The flags of Algorithm 1 (defaults: the library's UNIVERSAL_DEFAULTS), shared by `compute` and `sweep`. */
export interface Algorithm1Flags {
  delta: string;
  maxPasses: string;
  step?: string;
  candidates: string;
  overshoot: string;
  maxIterDeepfool: string;
  deepfoolBatch: string;
  keepBest?: boolean;
}

/** The flags' defaults: the library's UNIVERSAL_DEFAULTS, as the strings a command line gives. */
export function algorithm1FlagDefaults(): Algorithm1Flags {
  const D = UNIVERSAL_DEFAULTS;
  return {
    delta: String(D.delta),
    maxPasses: String(D.maxPasses),
    candidates: String(D.candidates),
    overshoot: String(D.overshoot),
    maxIterDeepfool: String(D.maxIterDeepFool),
    deepfoolBatch: String(D.deepfoolBatchSize),
  };
}

export function addAlgorithm1Options<T extends WithOption<T>>(cmd: T): T {
  const d = algorithm1FlagDefaults();
  return cmd
    .option('--delta <x>', 'stop when the fooling rate on X reaches 1 − δ', d.delta)
    .option('--max-passes <n>', 'at most this many passes over X (sgd: epochs)', d.maxPasses)
    .option('--step <p>', "DeepFool step norm: 2 (the paper's) or inf (default: matches --norm)")
    .option('--candidates <n>', 'DeepFool: classes considered', d.candidates)
    .option('--overshoot <x>', 'DeepFool: overshoot', d.overshoot)
    .option('--max-iter-deepfool <n>', 'DeepFool: iterations per image', d.maxIterDeepfool)
    .option('--deepfool-batch <n>', 'images per DeepFool call (1 = the paper’s exact sequential order)', d.deepfoolBatch)
    .option('--keep-best', 'return the pass with the highest fooling rate on X, not the last');
}

/** Algorithm 1's settings from its flags, checked by the library's own validator before any work. */
export function parseAlgorithm1Options(f: Algorithm1Flags, ball: BallSettings) {
  const step = f.step === undefined ? undefined : norm('--step', f.step);
  if (step === 1) throw new UapError('BAD_ARGUMENT', 'must be 2 or inf', '--step');
  const o = {
    delta: num('--delta', f.delta),
    maxPasses: num('--max-passes', f.maxPasses),
    candidates: num('--candidates', f.candidates),
    overshoot: num('--overshoot', f.overshoot),
    maxIterDeepFool: num('--max-iter-deepfool', f.maxIterDeepfool),
    deepfoolBatchSize: num('--deepfool-batch', f.deepfoolBatch),
    keepBest: Boolean(f.keepBest),
    ...(step === undefined ? {} : { step }),
  } satisfies Partial<UniversalOptions>;
  const r = asFlags(() => resolveUniversalOptions({ ...ball, ...o }));
  // The settings a perturbation.json records for Algorithm 1, in this order.
  return {
    delta: r.delta,
    maxPasses: r.maxPasses,
    step: r.step,
    candidates: r.candidates,
    overshoot: r.overshoot,
    maxIterDeepFool: r.maxIterDeepFool,
    deepfoolBatchSize: r.deepfoolBatchSize,
    keepBest: r.keepBest,
  };
}

/** The flags of the SGD attack (defaults: the library's SGD_DEFAULTS); --delta and --max-passes are Algorithm 1's. */
export interface SgdFlags {
  batchSize: string;
  stepSize?: string;
  loss: string;
  optimizer: string;
  augment: string;
}

/** The flags' defaults: the library's SGD_DEFAULTS (no augmentation), as command-line strings. */
export function sgdFlagDefaults(): SgdFlags {
  const D = SGD_DEFAULTS;
  return { batchSize: String(D.batchSize), loss: D.loss, optimizer: D.optimizer, augment: 'none' };
}

export function addSgdOptions<T extends WithOption<T>>(cmd: T): T {
  const d = sgdFlagDefaults();
  return cmd
    .option('--batch-size <n>', 'sgd: images per gradient step', d.batchSize)
    .option('--step-size <x>', 'sgd: largest step in pixels (default ξ/10)')
    .option('--loss <name>', `sgd: ${SGD_LOSSES.join(' or ')}: cross-entropy of the clean prediction or the clamped CW margin`, d.loss)
    .option('--optimizer <name>', `sgd: ${SGD_OPTIMIZERS.join(' or ')} (sgd takes sign steps for ℓ∞)`, d.optimizer)
    .option('--augment <list>', 'sgd: random views of X at each step, so v fits new and shared photos too: flip, crop (crops of 80–100% of the side), crop:SCALE, resize (the photo at 0.5–1.5× its resolution and back), resize:LO-HI, noise (Gaussian pixel noise, σ 4), noise:SIGMA, jpeg (x + v re-encoded at quality 50–95, gradient straight through), jpeg:LO-HI, or none', d.augment);
}

/** The SGD attack's own settings from its flags, checked by the library's validator before any work. */
export function parseSgdOptions(f: SgdFlags, ball: BallSettings) {
  const o = {
    batchSize: num('--batch-size', f.batchSize),
    ...(f.stepSize === undefined ? {} : { stepSize: num('--step-size', f.stepSize) }),
    loss: f.loss as SgdOptions['loss'],
    optimizer: f.optimizer as SgdOptions['optimizer'],
    augment: augment('--augment', f.augment),
  } satisfies Partial<SgdOptions>;
  const r = asFlags(() => resolveSgdOptions({ ...ball, ...o }));
  // The settings a perturbation.json records for SGD, in this order.
  return { batchSize: r.batchSize, stepSize: r.stepSize, loss: r.loss, optimizer: r.optimizer, augment: o.augment };
}

/**
 * `--augment flip,crop,resize,noise,jpeg`: `crop:0.7` (smallest crop side; `crop` alone 0.8), `resize:0.5-1.5`
 * (resolution scales; `resize` alone 0.5–1.5), `noise:4` (σ in pixels; `noise` alone 4), `jpeg:60-90`
 * (qualities; `jpeg` alone 50–95), or `none` (the defaults repeat the library's AUGMENT_DEFAULTS; its checkAugment,
 * run by resolveSgdOptions, validates the values).
 */
export function augment(flag: string, value: string): AugmentOptions {
  const D = { crop: 0.8, resize: [0.5, 1.5], noise: 4, jpeg: [50, 95] } as const;
  const out: AugmentOptions = {};
  const range = (kind: string, arg: string | undefined, def: readonly [number, number], example: string): [number, number] => {
    const m = arg === undefined ? ['', String(def[0]), String(def[1])] : /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(arg);
    if (!m) throw new UapError('BAD_ARGUMENT', `${kind} takes a range LO-HI (e.g. ${kind}:${example}), got ${arg}`, flag);
    return [Number(m[1]), Number(m[2])];
  };
  for (const part of value.split(',').map((p) => p.trim())) {
    const [kind, arg, extra] = part.split(':');
    if (extra !== undefined) throw new UapError('BAD_ARGUMENT', `one value per view, got "${part}"`, flag);
    if (kind === 'flip' && arg === undefined) out.flip = true;
    else if (kind === 'jpeg') out.jpeg = range('jpeg', arg, D.jpeg, '50-95');
    else if (kind === 'resize') out.resize = range('resize', arg, D.resize, '0.5-1.5');
    else if (kind === 'noise') out.noise = arg === undefined ? D.noise : num(flag, arg);
    else if (kind === 'crop') {
      const s = arg === undefined ? D.crop : num(flag, arg);
      if (!(s > 0 && s <= 1)) throw new UapError('BAD_ARGUMENT', `the crop scale must be in (0, 1], got ${arg}`, flag);
      out.minScale = s;
    } else if (kind !== 'none' || arg !== undefined) {
      throw new UapError('BAD_ARGUMENT', `expected a comma-separated list of flip, crop[:SCALE], resize[:LO-HI], noise[:SIGMA], jpeg[:LO-HI] (or none), got "${part}"`, flag);
    }
  }
  return out;
}

/** The flags that pick images, shared by every command that reads a data set. */
export function addImageOptions<T extends WithOption<T>>(cmd: T, help: { limit: string; seed: string }): T {
  return cmd.option('--limit <n>', help.limit).option('--seed <n>', help.seed, '1');
}

/**
 * The flags of how a command runs a model and reports, shared by the commands that classify images: `clip`
 * (--no-clip) and `batchSize` (--batch-size, images per forward pass) where the command has them; every one
 * has --models-dir and --json.
 */
export function addRunOptions<T extends WithOption<T>>(cmd: T, help: { clip?: string; batchSize?: true | string; json: string }): T {
  if (help.clip) cmd.option('--no-clip', help.clip);
  if (help.batchSize) cmd.option('--batch-size <n>', help.batchSize === true ? 'images per forward pass' : help.batchSize, '64');
  return cmd.option('--models-dir <dir>', 'local model mirror (default: env UAP_MODELS_DIR)').option('--json', help.json);
}

/** --model and --data, which every command that classifies a data set requires. */
export function addModelAndData<T extends { requiredOption: (flags: string, description: string) => T }>(cmd: T, data: string, model = 'zoo name (see `uap models`), model folder, model.json, .tflite, .onnx or URL'): T {
  return cmd.requiredOption('--model <name>', model).requiredOption('--data <spec>', data);
}

/** The values of addModelAndData, addImageOptions and addRunOptions (clip and batchSize where declared). */
export interface SharedFlags {
  model: string;
  data: string;
  limit?: string;
  seed: string;
  clip: boolean;
  batchSize: string;
  modelsDir?: string;
  json?: boolean;
}
