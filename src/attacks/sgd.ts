import type * as tf from '@tensorflow/tfjs';
import { checkAugment, drawsPerImage, type AugmentOptions } from '../data/augment.js';
import { range, type ImageSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { createRng } from '../util/rng.js';
import { checkDelta, checkInt, PASS_DEFAULTS, resolvePassOptions, runPasses, type PassContext, type PassOptions, type PassProgress, type PassResult, type ResolvedPassOptions } from './pass-driver.js';
import { lpNorm, projectLp, type LpNorm } from './project.js';
import { checkSmooth, smoothGradient } from './smooth-gradient.js';
import { localSgdEngine, type SgdEngine, type SgdEngineFactory, type SgdEngineSettings } from './sgd-engine.js';
import { DEFAULT_BETA, SGD_LOSSES, type SgdLoss } from './sgd-loss.js';

/**
 * Universal perturbation by stochastic gradient (in the style of Shafahi, Najibi, Xu, Dickerson, Davis,
 * Goldstein, "Universal adversarial training", AAAI 2020): instead of Algorithm 1's per-image DeepFool
 * steps, optimise v directly on minibatches of X,
 *
 *   untargeted: maximise the loss of the clean prediction y = k̂(x)      over ‖v‖_p ≤ ξ
 *   targeted:   minimise the loss of the target class t
 *
 * with the gradient ∇_v = Σ_i ∂loss(clip(x_i + v))/∂x_i (one classifier.vjp per minibatch) and a projected
 * step after each minibatch. Losses (src/attacks/sgd-loss.ts):
 *   'ce'          cross-entropy of the softmax;
 *   'clamped-ce'  min(CE, β) (Shafahi et al.): an image fooled beyond doubt (CE ≥ β) stops pulling on v;
 *   'margin'  the clamped CW-style margin max(f_y − max_{k≠y} f_k, −κ) (targeted: max(max_{k≠t} f_k − f_t, −κ)):
 *             an image stops pulling on v once it is fooled by a margin κ, so v serves the images not fooled yet;
 *   'complement'  −log(1 − p_y): CE's gradient vanishes on images the classifier is sure of, this one does not;
 *   'ce-norm'     CE's gradient with each image's row of ∂/∂logits scaled to unit length: one equal vote per image.
 * Steps: 'sgd' takes sign(g) for ℓ∞ (steepest ascent in ℓ∞) and g/‖g‖₂ for ℓ2 and ℓ1; 'adam' takes Adam's
 * update. With momentum μ > 0 (MI-FGSM, Dong et al. CVPR 2018) the step follows m ← μ·m + g/‖g‖₁ instead of
 * g: normalising by ‖g‖₁ makes every minibatch weigh the same in m whatever its loss scale, and m keeps the
 * direction that several minibatches agree on, so v moves less with each minibatch's noise. The step size follows a cosine schedule from stepSize down to 0 over all steps, or stays constant.
 * With `augment`, each minibatch is seen through random mirrors and crops (src/data/augment.ts): with a few
 * hundred photos v otherwise fits X itself (see docs/results.md: 41.5% → 80.0% on val for mobilenet_v1_0.75_224).
 */
export interface SgdOptions extends PassOptions {
  /** Passes over X. */
  epochs?: number;
  /** Images per gradient step. */
  batchSize?: number;
  /** Largest step, in pixels (per coordinate for ℓ∞ sign steps and Adam; in ℓ2 length otherwise). Default ξ/10. */
  stepSize?: number;
  schedule?: 'cosine' | 'constant';
  optimizer?: 'sgd' | 'adam';
  loss?: SgdLoss;
  /** Margin loss clamp κ ≥ 0 (0: stop at the decision boundary). */
  kappa?: number;
  /** Clamped cross-entropy's clamp β > 0: an image whose CE reaches β stops contributing (default 9). */
  beta?: number;
  /** Momentum μ in [0, 1) of the sign (or normalised) steps, on ℓ1-normalised gradients (0: none). Not with Adam. */
  momentum?: number;
  /** σ in pixels of the Gaussian blur of every minibatch gradient (smooth-gradient.ts; 0: none). */
  smooth?: number;
  /**
   * Random flips and crops of each minibatch's images (not of v), so that v fits photos like X rather than X
   * itself. Evaluation on X stays on the images as given. Default: none.
   */
  augment?: AugmentOptions;
  /** Stop once the fooling rate (targeted: target success) reaches 1 − δ; by default all epochs run. */
  delta?: number;
  /** Called as the attack goes (see SgdProgress). */
  onProgress?: (e: SgdProgress) => void;
  /** Where minibatch gradients (and optionally predictions) are computed; default: here (src/attacks/sgd-engine.ts). */
  engine?: SgdEngineFactory;
}

/** The SGD attack's defaults (the step size defaults to ξ/10: see defaultStepSize). */
export const SGD_DEFAULTS = { ...PASS_DEFAULTS, epochs: 10, batchSize: 32, schedule: 'cosine', optimizer: 'sgd', loss: 'ce', kappa: 0, beta: DEFAULT_BETA, momentum: 0, smooth: 0 } as const;

/** The losses the gradient attacks can use: softmax cross-entropy, its clamp min(CE, β), and the clamped margin. */
export { SGD_LOSSES };
/** The SGD attack's update rules: sign or normalised gradient steps, or Adam. */
export const SGD_OPTIMIZERS = ['sgd', 'adam'] as const;
export const SGD_SCHEDULES = ['cosine', 'constant'] as const;

/** The default largest step: a tenth of the radius. */
export function defaultStepSize(xi: number): number {
  return xi / 10;
}

/** The SGD attack's options after validation, with every default filled in. */
export type ResolvedSgdOptions = ResolvedPassOptions &
  Required<Pick<SgdOptions, 'epochs' | 'batchSize' | 'stepSize' | 'schedule' | 'optimizer' | 'loss' | 'kappa' | 'beta' | 'momentum' | 'smooth'>> &
  Pick<SgdOptions, 'delta' | 'augment' | 'onProgress' | 'engine'>;

export function oneOf<T extends string>(value: T, allowed: readonly T[], option: string): T {
  if (!allowed.includes(value)) throw new UapError('BAD_ARGUMENT', `unknown ${option} ${JSON.stringify(value)} (expected ${allowed.join(' or ')})`, option);
  return value;
}

/** Validates the SGD attack's options and fills in the defaults; UapError BAD_ARGUMENT naming the option. */
export function resolveSgdOptions(o: SgdOptions): ResolvedSgdOptions {
  const base = resolvePassOptions(o);
  const D = SGD_DEFAULTS;
  const stepSize = o.stepSize ?? defaultStepSize(base.xi);
  if (!(stepSize > 0) || !Number.isFinite(stepSize)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${stepSize}`, 'stepSize');
  const kappa = o.kappa ?? D.kappa;
  if (!(kappa >= 0) || !Number.isFinite(kappa)) throw new UapError('BAD_ARGUMENT', `must be a finite number ≥ 0, got ${kappa}`, 'kappa');
  const optimizer = oneOf(o.optimizer ?? D.optimizer, SGD_OPTIMIZERS, 'optimizer');
  const momentum = checkMomentum(o.momentum ?? D.momentum);
  if (momentum > 0 && optimizer === 'adam') throw new UapError('BAD_ARGUMENT', 'applies to sign (sgd) steps; Adam keeps its own moments', 'momentum');
  return {
    ...base,
    epochs: checkInt(o.epochs ?? D.epochs, 1, 'epochs'),
    batchSize: checkInt(o.batchSize ?? D.batchSize, 1, 'batchSize'),
    stepSize,
    schedule: oneOf(o.schedule ?? D.schedule, SGD_SCHEDULES, 'schedule'),
    optimizer,
    loss: oneOf(o.loss ?? D.loss, SGD_LOSSES, 'loss'),
    kappa,
    beta: checkBeta(o.beta ?? D.beta),
    momentum,
    smooth: checkSmooth(o.smooth ?? D.smooth),
    delta: o.delta === undefined ? undefined : checkDelta(o.delta),
    augment: o.augment ? checkAugment(o.augment, 'augment') : undefined,
    onProgress: o.onProgress,
    engine: o.engine,
  };
}

/** β of the clamped cross-entropy: a finite number > 0. */
export function checkBeta(beta: number): number {
  if (!(beta > 0) || !Number.isFinite(beta)) throw new UapError('BAD_ARGUMENT', `must be a finite number > 0, got ${beta}`, 'beta');
  return beta;
}

/** Momentum μ: in [0, 1) (μ ≥ 1 lets m grow without bound). */
export function checkMomentum(mu: number): number {
  if (!(mu >= 0 && mu < 1)) throw new UapError('BAD_ARGUMENT', `must be in [0, 1), got ${mu}`, 'momentum');
  return mu;
}

/**
 * The steepest-descent step of length α on J in the ℓp ball's geometry, projected: v ← P(v − α·sign(g)) for ℓ∞
 * (the maximiser of ⟨g, s⟩ over ‖s‖∞ ≤ α), v ← P(v − α·g/‖g‖₂) for ℓ2 and ℓ1.
 */
export function descend(v: Float32Array, g: Float32Array, alpha: number, norm: LpNorm, xi: number): Float32Array {
  const d = v.length;
  const next = new Float32Array(d);
  if (norm === 'inf') {
    for (let i = 0; i < d; i++) next[i] = v[i]! - alpha * Math.sign(g[i]!);
  } else {
    const gn = lpNorm(g, 2);
    const s = gn > 0 ? alpha / gn : 0;
    for (let i = 0; i < d; i++) next[i] = v[i]! - s * g[i]!;
  }
  return projectLp(next, xi, norm);
}

/**
 * MI-FGSM's accumulator, in place: m ← μ·m + g/‖g‖₁ (g = 0 adds nothing). Returns m, the direction to step along.
 */
export function accumulateMomentum(m: Float32Array, g: Float32Array, mu: number): Float32Array {
  const g1 = lpNorm(g, 1);
  const s = g1 > 0 ? 1 / g1 : 0;
  for (let i = 0; i < m.length; i++) m[i] = mu * m[i]! + s * g[i]!;
  return m;
}

/** What the engines need from a gradient attack's resolved options. */
export function engineSettings(
  o: ResolvedPassOptions & { loss: SgdLoss; kappa: number; beta: number; augment?: AugmentOptions | undefined },
  augmentRng: () => number,
): SgdEngineSettings {
  return { loss: o.loss, kappa: o.kappa, beta: o.beta, targeted: o.target !== undefined, clip: o.clip, evalBatchSize: o.evalBatchSize, augment: o.augment, augmentRng, signal: o.signal };
}

/** Progress events of the SGD attack: the shared pass events plus the running loss within an epoch. */
export type SgdProgress = PassProgress | { phase: 'epoch'; pass: number; done: number; total: number; loss: number };

// The loss and its gradient live in sgd-loss.ts (shared with the engines in sgd-engine.ts).
export { lossGradient, lossValue } from './sgd-loss.js';

/**
 * Computes a universal perturbation for the images X by projected stochastic gradient steps on v (see SgdOptions).
 */
export async function sgdPerturbation(classifier: Classifier, X: tf.Tensor4D | ImageSource, options: SgdOptions): Promise<PassResult> {
  const o = resolveSgdOptions(options);
  // Optimiser state. Adam's moments restart on resume (they are not checkpointed); the schedule does not.
  // Momentum's m restarts on resume too.
  const state = { m1: new Float32Array(0), m2: new Float32Array(0), adamT: 0, momentum: new Float32Array(0) };
  // Augmentation draws come from their own stream, so turning it on does not change the visiting order.
  const augmentRng = createRng(o.seed + 0x5eed);
  const settings = engineSettings(o, augmentRng);
  const remote = o.engine ? await o.engine(settings) : undefined;
  let engine: SgdEngine | undefined = remote;
  return runPasses(
    classifier,
    X,
    o,
    {
      maxPasses: o.epochs,
      goal: o.delta === undefined ? undefined : 1 - o.delta,
      skipPass: (n) => {
        for (let k = 0; k < drawsPerImage(o.augment) * n; k++) augmentRng(); // the draws of n images' augmentation (data/augment.ts)
      },
      ...(remote?.predict ? { predict: remote.predict } : {}),
      run: (ctx, pass, order, v) => sgdEpoch(ctx, o, state, (engine ??= localSgdEngine(ctx.classifier, ctx.source, settings)), pass, order, v),
    },
    o.onProgress,
  );
}

/** One epoch of projected SGD on v over X in `order`; null when stopped. */
async function sgdEpoch(
  ctx: PassContext,
  o: ResolvedSgdOptions,
  state: { m1: Float32Array; m2: Float32Array; adamT: number; momentum: Float32Array },
  engine: SgdEngine,
  pass: number,
  order: Int32Array,
  v: Float32Array,
) {
  const { source, d, cleanPred, criterion } = ctx;
  const { batchSize, norm, stepSize, optimizer } = o;
  const n = source.size;
  const target = criterion.target;
  const targeted = target !== undefined;
  const stepsPerEpoch = Math.ceil(n / batchSize);
  const totalSteps = o.epochs * stepsPerEpoch;
  if (state.m1.length !== d) {
    state.m1 = new Float32Array(d);
    state.m2 = new Float32Array(d);
    state.momentum = new Float32Array(d);
  }
  const { m1, m2 } = state;
  let w = v;
  let lossSum = 0;
  let steps = 0;
  for (let start = 0; start < n; start += batchSize) {
    if (await ctx.stopped()) return null;
    const idx = range(start, Math.min(n, start + batchSize), order);
    const cls = targeted ? new Int32Array(idx.length).fill(target) : Int32Array.from(idx, (i) => cleanPred[i]!);
    const out = await engine.gradient({ v: w, indices: idx, cls, batchSize: idx.length });
    if (out === null) return null;
    const g = smoothGradient(out.grad, ctx.classifier.inputShape, o.smooth);
    lossSum += out.lossSum;

    // One projected descent step on J (the minimised objective): v ← P(v − α·direction(g)).
    const t = (pass - 1) * stepsPerEpoch + steps;
    const alpha = o.schedule === 'constant' ? stepSize : (stepSize * (1 + Math.cos((Math.PI * t) / totalSteps))) / 2;
    if (optimizer === 'adam') {
      const next = new Float32Array(d);
      const b1 = 0.9;
      const b2 = 0.999;
      state.adamT++;
      const c1 = 1 - b1 ** state.adamT;
      const c2 = 1 - b2 ** state.adamT;
      for (let i = 0; i < d; i++) {
        m1[i] = b1 * m1[i]! + (1 - b1) * g[i]!;
        m2[i] = b2 * m2[i]! + (1 - b2) * g[i]! * g[i]!;
        next[i] = w[i]! - (alpha * (m1[i]! / c1)) / (Math.sqrt(m2[i]! / c2) + 1e-8);
      }
      w = projectLp(next, o.xi, norm);
    } else {
      w = descend(w, o.momentum > 0 ? accumulateMomentum(state.momentum, g, o.momentum) : g, alpha, norm, o.xi);
    }
    steps++;
    o.onProgress?.({ phase: 'epoch', pass, done: start + idx.length, total: n, loss: lossSum / (start + idx.length) });
  }
  return { v: w, stats: { updates: steps, loss: lossSum / n } };
}
