import {
  AUGMENT_DEFAULTS,
  resolveSgaOptions,
  resolveSgdOptions,
  resolveUniversalOptions,
  SGA_DEFAULTS,
  SGD_DEFAULTS,
  SGD_LOSSES,
  SGD_OPTIMIZERS,
  UapError,
  UNIVERSAL_DEFAULTS,
  type AugmentOptions,
  type LpNorm,
  type SgaOptions,
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

/**
 * The flags of Algorithm 1 (defaults: the library's UNIVERSAL_DEFAULTS), shared by `compute` and `sweep`.
 * `compute` declares --delta and --max-passes without a default: each method has its own (perMethod).
 */
export interface Algorithm1Flags {
  delta?: string;
  maxPasses?: string;
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

export function addAlgorithm1Options<T extends WithOption<T>>(cmd: T, o: { perMethod?: { delta: string; maxPasses: string } } = {}): T {
  const d = algorithm1FlagDefaults();
  const pm = o.perMethod;
  return cmd
    .option('--delta <x>', `stop when the fooling rate on X reaches 1 − δ${pm ? ` (${pm.delta})` : ''}`, pm ? undefined : d.delta)
    .option('--max-passes <n>', pm ? `at most this many passes over X (${pm.maxPasses})` : 'at most this many passes over X', pm ? undefined : d.maxPasses)
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
  if (f.delta === 'none') throw new UapError('BAD_ARGUMENT', "Algorithm 1 stops at 1 − δ by definition: give δ in (0, 1) (or use --method sgd or sga, which run every epoch without --delta)", '--delta');
  const o = {
    delta: f.delta === undefined ? UNIVERSAL_DEFAULTS.delta : num('--delta', f.delta),
    maxPasses: f.maxPasses === undefined ? UNIVERSAL_DEFAULTS.maxPasses : num('--max-passes', f.maxPasses),
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

/**
 * The flags of the gradient attacks, sgd and sga. None has a Commander default: a flag not given takes the
 * chosen method's library default (SGD_DEFAULTS, SGA_DEFAULTS), so each default lives in one place.
 * --delta and --max-passes (epochs) are declared with Algorithm 1's flags.
 */
export interface SgdFlags {
  batchSize?: string;
  stepSize?: string;
  schedule?: string;
  loss?: string;
  beta?: string;
  kappa?: string;
  momentum?: string;
  optimizer?: string;
  minibatch?: string;
  innerSteps?: string;
  innerStepSize?: string;
  augment?: string;
  smooth?: string;
}

/** The flags' defaults as command-line strings: none (each method's library defaults apply). */
export function sgdFlagDefaults(): SgdFlags {
  return {};
}

const D_SGD = SGD_DEFAULTS;
const D_SGA = SGA_DEFAULTS;

export function addSgdOptions<T extends WithOption<T>>(cmd: T): T {
  const d = sgdFlagDefaults();
  return cmd
    .option('--batch-size <n>', `sgd: images per gradient step (${D_SGD.batchSize}); sga: images per outer batch, one step on v each (${D_SGA.batchSize})`)
    .option('--minibatch <n>', `sga: images per inner step (${D_SGA.minibatch})`)
    .option('--inner-steps <K>', `sga: inner passes over each outer batch (${D_SGA.innerSteps})`)
    .option('--step-size <x>', 'sgd, sga: largest step on v in pixels (default ξ/10)')
    .option('--inner-step-size <x>', 'sga: inner step in pixels (default: --step-size)')
    .option('--schedule <name>', `sgd, sga: cosine or constant step size (sgd: ${D_SGD.schedule}, sga: ${D_SGA.schedule})`)
    .option('--loss <name>', `sgd, sga: ${SGD_LOSSES.join(', ')}: cross-entropy of the clean prediction, min(CE, β) (Shafahi et al. 2020), the clamped CW margin, −log(1 − p_y), which keeps pulling on confident images, or CE with each image's logit gradient scaled to unit length, one equal vote per image (sgd: ${D_SGD.loss}, sga: ${D_SGA.loss})`)
    .option('--beta <x>', `clamped-ce: the clamp β (${D_SGA.beta})`)
    .option('--kappa <x>', `margin: the clamp κ (${D_SGA.kappa})`)
    .option('--momentum <mu>', `sgd, sga: momentum μ in [0, 1) of sign steps on ℓ1-normalised gradients, MI-FGSM style (${D_SGD.momentum}: none)`)
    .option('--smooth <sigma>', `sgd, sga: blur each minibatch gradient with a Gaussian of σ pixels before the sign step, so v is built of blobs rather than pixel texture (${D_SGA.smooth}: none)`)
    .option('--optimizer <name>', `sgd: ${SGD_OPTIMIZERS.join(' or ')} (sgd takes sign steps for ℓ∞; default ${D_SGD.optimizer})`)
    .option('--augment <list>', 'sgd, sga: random views of X at each step, so v fits new and shared photos too: flip, crop (crops of 80–100% of the side), crop:SCALE, shift (the view or crop anywhere in the photo resized as the model resizes it, not only in its centre crop), rotate (±10°, zoomed to hide the corners), rotate:DEG, color (brightness, contrast, saturation ×0.8–1.2), color:S, resize (the photo at 0.5–1.5× its resolution and back), resize:LO-HI, noise (Gaussian pixel noise, σ 4), noise:SIGMA, jpeg (x + v re-encoded at quality 50–95, gradient straight through), jpeg:LO-HI, or none', d.augment);
}

/** `flag value` as a number when given. */
function optNum<K extends string>(key: K, flag: string, value: string | undefined): { [k in K]?: number } {
  return (value === undefined ? {} : { [key]: num(flag, value) }) as { [k in K]?: number };
}

/** Refuses the flags that the chosen method does not take (they would be silently ignored). */
function refuseFlags(f: SgdFlags, method: string, flags: Array<[keyof SgdFlags, string]>): void {
  for (const [key, flag] of flags) {
    if (f[key] !== undefined) throw new UapError('BAD_ARGUMENT', `does not apply to --method ${method}`, flag);
  }
}

/** The options both gradient attacks take, from their flags (unset flags stay unset: the attack's defaults apply). */
function gradientFlags(f: SgdFlags) {
  return {
    ...optNum('batchSize', '--batch-size', f.batchSize),
    ...optNum('stepSize', '--step-size', f.stepSize),
    ...optNum('beta', '--beta', f.beta),
    ...optNum('kappa', '--kappa', f.kappa),
    ...optNum('momentum', '--momentum', f.momentum),
    ...optNum('smooth', '--smooth', f.smooth),
    ...(f.schedule === undefined ? {} : { schedule: f.schedule as SgdOptions['schedule'] }),
    ...(f.loss === undefined ? {} : { loss: f.loss as SgdOptions['loss'] }),
    ...(f.augment === undefined ? {} : { augment: augment('--augment', f.augment) }),
  };
}

/** The loss settings a perturbation.json records: β only for clamped-ce, κ only for the margin. */
function lossRecord(r: { loss: SgdOptions['loss'] & string; beta: number; kappa: number }) {
  return { loss: r.loss, ...(r.loss === 'clamped-ce' ? { beta: r.beta } : {}), ...(r.loss === 'margin' ? { kappa: r.kappa } : {}) };
}

/** The SGD attack's own settings from its flags, checked by the library's validator before any work. */
export function parseSgdOptions(f: SgdFlags, ball: BallSettings) {
  refuseFlags(f, 'sgd', [['minibatch', '--minibatch'], ['innerSteps', '--inner-steps'], ['innerStepSize', '--inner-step-size']]);
  const o = { ...gradientFlags(f), ...(f.optimizer === undefined ? {} : { optimizer: f.optimizer as SgdOptions['optimizer'] }) } satisfies Partial<SgdOptions>;
  const r = asFlags(() => resolveSgdOptions({ ...ball, ...o }));
  // The settings a perturbation.json records for SGD, in this order (the augmentation as given: {} is none).
  return {
    batchSize: r.batchSize,
    stepSize: r.stepSize,
    schedule: r.schedule,
    ...lossRecord(r),
    optimizer: r.optimizer,
    momentum: r.momentum,
    ...(r.smooth > 0 ? { smooth: r.smooth } : {}),
    augment: o.augment ?? {},
  };
}

/** SGA's own settings from its flags, checked by the library's validator before any work. */
export function parseSgaOptions(f: SgdFlags, ball: BallSettings) {
  refuseFlags(f, 'sga', [['optimizer', '--optimizer']]);
  const o = {
    ...gradientFlags(f),
    ...optNum('minibatch', '--minibatch', f.minibatch),
    ...optNum('innerSteps', '--inner-steps', f.innerSteps),
    ...optNum('innerStepSize', '--inner-step-size', f.innerStepSize),
  } satisfies Partial<SgaOptions>;
  const r = asFlags(() => resolveSgaOptions({ ...ball, ...o }));
  // The settings a perturbation.json records for SGA, in this order.
  return {
    batchSize: r.batchSize,
    minibatch: r.minibatch,
    innerSteps: r.innerSteps,
    stepSize: r.stepSize,
    innerStepSize: r.innerStepSize,
    schedule: r.schedule,
    ...lossRecord(r),
    momentum: r.momentum,
    ...(r.smooth > 0 ? { smooth: r.smooth } : {}),
    augment: r.augment ?? {},
  };
}

/**
 * `--augment flip,crop,shift,rotate,color,resize,noise,jpeg`: `crop:0.7` (smallest crop side; `crop` alone 0.8),
 * `rotate:10` (largest angle in degrees; `rotate` alone 10), `color:0.2` (jitter strength; `color` alone 0.2), `resize:0.5-1.5`
 * (resolution scales; `resize` alone 0.5–1.5), `noise:4` (σ in pixels; `noise` alone 4), `jpeg:60-90`
 * (qualities; `jpeg` alone 50–95), or `none` (the defaults repeat the library's AUGMENT_DEFAULTS; its checkAugment,
 * run by resolveSgdOptions, validates the values).
 */
export function augment(flag: string, value: string): AugmentOptions {
  const D = AUGMENT_DEFAULTS;
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
    else if (kind === 'shift' && arg === undefined) out.shift = true;
    else if (kind === 'rotate') out.rotate = arg === undefined ? D.rotate : num(flag, arg);
    else if (kind === 'color') out.color = arg === undefined ? D.color : num(flag, arg);
    else if (kind === 'jpeg') out.jpeg = range('jpeg', arg, D.jpeg, '50-95');
    else if (kind === 'resize') out.resize = range('resize', arg, D.resize, '0.5-1.5');
    else if (kind === 'noise') out.noise = arg === undefined ? D.noise : num(flag, arg);
    else if (kind === 'crop') {
      const s = arg === undefined ? D.crop : num(flag, arg);
      if (!(s > 0 && s <= 1)) throw new UapError('BAD_ARGUMENT', `the crop scale must be in (0, 1], got ${arg}`, flag);
      out.minScale = s;
    } else if (kind !== 'none' || arg !== undefined) {
      throw new UapError('BAD_ARGUMENT', `expected a comma-separated list of flip, crop[:SCALE], shift, rotate[:DEG], color[:S], resize[:LO-HI], noise[:SIGMA], jpeg[:LO-HI] (or none), got "${part}"`, flag);
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
