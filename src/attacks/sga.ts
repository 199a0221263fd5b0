import type * as tf from '@tensorflow/tfjs';
import { checkAugment, drawsPerImage, type AugmentOptions } from '../data/augment.js';
import { range, type ImageSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { createRng, permutation, type Rng } from '../util/rng.js';
import { checkDelta, checkInt, PASS_DEFAULTS, resolvePassOptions, runPasses, type PassContext, type PassOptions, type PassResult, type ResolvedPassOptions } from './pass-driver.js';
import { accumulateMomentum, checkBeta, checkMomentum, defaultStepSize, descend, engineSettings, oneOf, SGD_LOSSES, SGD_SCHEDULES, type SgdProgress } from './sgd.js';
import { localSgdEngine, type SgdEngine, type SgdEngineFactory } from './sgd-engine.js';
import { DEFAULT_BETA, type SgdLoss } from './sgd-loss.js';
import { checkSmooth, smoothGradient } from './smooth-gradient.js';

/**
 * SGA, stochastic gradient aggregation (Liu, Zhong, Zhang, Cheng, Ji, "Enhancing generalization of universal
 * adversarial perturbation through gradient aggregation", ICCV 2023). Same objective as the SGD attack
 * (sgd.ts: maximise the loss of the clean prediction, or minimise that of the target, over ‖v‖_p ≤ ξ); a
 * different way of stepping. Per outer batch B of X (in the pass's seeded order, `batchSize` images):
 *
 *   u ← v;  G ← 0
 *   K times (innerSteps): for each minibatch b of B (`minibatch` images; B freshly shuffled each time)
 *       g_b ← ∇_v J_b(u)                  (one engine.gradient: the mean loss of b at u)
 *       G ← G + g_b;  u ← P(u − α'·sign(g_b))     (inner step on the copy u, α' = innerStepSize)
 *   v ← P(v − α·sign(G))                  (ONE step on v per outer batch, α = stepSize; ℓ2/ℓ1: g/‖g‖₂, not sign)
 *
 * (With momentum μ > 0 the outer step follows m ← μ·m + G/‖G‖₁ instead of G, as in SGA's code.)
 *
 * Why it generalises. Sign-SGD on small minibatches is noisy: sign(g_b) flips wherever a few images disagree,
 * and the perturbation fits whichever minibatch came last. Large batches average the noise out but give few
 * steps and, for sign steps, settle into sharp optima that transfer badly to new images. SGA has both:
 *  - aggregation: G sums K·|B|/|b| minibatch gradients, so sign(G) is the sign of a gradient over the whole
 *    outer batch seen K times — the low-noise direction of a |B|-image batch (an effective batch of |B|, not |b|);
 *  - inner steps: each g_b is taken at u, which has already moved along the earlier minibatches' signs, so G
 *    also looks ahead along the path small-batch SGD would take and weighs the directions that stay good as v
 *    moves (the gradients of points near v, not only of v itself). The paper finds this flatter and better on
 *    unseen images; v itself moves only once per outer batch, so a single minibatch never decides its sign.
 * With K = 1 and |B| = |b| the inner step is discarded and SGA is plain sign-SGD (a test holds it to sgd.ts).
 *
 * Departures from SGA's code, both for reproducibility: each inner pass visits every image of B once in a
 * seeded shuffle (the code draws K·|B|/|b| minibatches at random with replacement across draws), and the
 * augmentation (src/data/augment.ts) applies to each minibatch as in the SGD attack.
 */
export interface SgaOptions extends PassOptions {
  /** Passes over X. */
  epochs?: number;
  /** Images per outer batch: one step on v each. */
  batchSize?: number;
  /** Images per inner step (per gradient). */
  minibatch?: number;
  /** K: inner passes over each outer batch. */
  innerSteps?: number;
  /** Step on v, in pixels (per coordinate for ℓ∞ sign steps, ℓ2 length otherwise). Default ξ/10. */
  stepSize?: number;
  /** Inner step on the temporary copy, in pixels. Default: stepSize. */
  innerStepSize?: number;
  /** Step sizes constant (SGA's) or on a cosine from the full steps down to 0 over all outer steps. */
  schedule?: 'constant' | 'cosine';
  loss?: SgdLoss;
  /** Clamped cross-entropy's β > 0 (default 9, as SGA's code). */
  beta?: number;
  /** Margin loss clamp κ ≥ 0. */
  kappa?: number;
  /** Momentum μ in [0, 1) of the outer steps, on ℓ1-normalised aggregated gradients (0: none). */
  momentum?: number;
  /** σ in pixels of the Gaussian blur of every minibatch gradient (smooth-gradient.ts; 0: none). */
  smooth?: number;
  /** Random views of each minibatch's images (not of v); see SgdOptions.augment. */
  augment?: AugmentOptions;
  /** Stop once the fooling rate (targeted: target success) reaches 1 − δ; by default all epochs run. */
  delta?: number;
  /** Called as the attack goes (see SgdProgress). */
  onProgress?: (e: SgdProgress) => void;
  /** Where minibatch gradients (and optionally predictions) are computed; default: here (sgd-engine.ts). */
  engine?: SgdEngineFactory;
}

/** SGA's defaults: the paper's outer batch 250, minibatch 10, K = 4, clamped CE with β = 9, constant step ξ/10. */
export const SGA_DEFAULTS = {
  ...PASS_DEFAULTS,
  epochs: 10,
  batchSize: 250,
  minibatch: 10,
  innerSteps: 4,
  schedule: 'constant',
  loss: 'clamped-ce',
  beta: DEFAULT_BETA,
  kappa: 0,
  momentum: 0,
  smooth: 0,
} as const;

/** SGA's options after validation, with every default filled in. */
export type ResolvedSgaOptions = ResolvedPassOptions &
  Required<Pick<SgaOptions, 'epochs' | 'batchSize' | 'minibatch' | 'innerSteps' | 'stepSize' | 'innerStepSize' | 'schedule' | 'loss' | 'beta' | 'kappa' | 'momentum' | 'smooth'>> &
  Pick<SgaOptions, 'delta' | 'augment' | 'onProgress' | 'engine'>;

function checkStep(x: number, option: string): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${x}`, option);
  return x;
}

/** Validates SGA's options and fills in the defaults; UapError BAD_ARGUMENT naming the option. */
export function resolveSgaOptions(o: SgaOptions): ResolvedSgaOptions {
  const base = resolvePassOptions(o);
  const D = SGA_DEFAULTS;
  const stepSize = checkStep(o.stepSize ?? defaultStepSize(base.xi), 'stepSize');
  const kappa = o.kappa ?? D.kappa;
  if (!(kappa >= 0) || !Number.isFinite(kappa)) throw new UapError('BAD_ARGUMENT', `must be a finite number ≥ 0, got ${kappa}`, 'kappa');
  return {
    ...base,
    epochs: checkInt(o.epochs ?? D.epochs, 1, 'epochs'),
    batchSize: checkInt(o.batchSize ?? D.batchSize, 1, 'batchSize'),
    minibatch: checkInt(o.minibatch ?? D.minibatch, 1, 'minibatch'),
    innerSteps: checkInt(o.innerSteps ?? D.innerSteps, 1, 'innerSteps'),
    stepSize,
    innerStepSize: checkStep(o.innerStepSize ?? stepSize, 'innerStepSize'),
    schedule: oneOf(o.schedule ?? D.schedule, SGD_SCHEDULES, 'schedule'),
    loss: oneOf(o.loss ?? D.loss, SGD_LOSSES, 'loss'),
    beta: checkBeta(o.beta ?? D.beta),
    kappa,
    momentum: checkMomentum(o.momentum ?? D.momentum),
    smooth: checkSmooth(o.smooth ?? D.smooth),
    delta: o.delta === undefined ? undefined : checkDelta(o.delta),
    augment: o.augment ? checkAugment(o.augment, 'augment') : undefined,
    onProgress: o.onProgress,
    engine: o.engine,
  };
}

/**
 * The minibatches of one outer batch, K passes in turn: each pass a fresh shuffle of the batch drawn from
 * `rng` (none when the batch is a single minibatch: its order would change nothing but float sums).
 */
function innerBatches(outer: Int32Array, o: ResolvedSgaOptions, rng: Rng): Int32Array[] {
  const out: Int32Array[] = [];
  for (let k = 0; k < o.innerSteps; k++) {
    const order = outer.length <= o.minibatch ? outer : Int32Array.from(permutation(outer.length, rng), (j) => outer[j]!);
    for (let s = 0; s < order.length; s += o.minibatch) out.push(order.subarray(s, Math.min(order.length, s + o.minibatch)));
  }
  return out;
}

/** Computes a universal perturbation for the images X by stochastic gradient aggregation (see SgaOptions). */
export async function sgaPerturbation(classifier: Classifier, X: tf.Tensor4D | ImageSource, options: SgaOptions): Promise<PassResult> {
  const o = resolveSgaOptions(options);
  // Momentum restarts on resume (it is not checkpointed).
  const state = { momentum: new Float32Array(0) };
  // Own streams for the augmentation and the inner shuffles, so neither changes the visiting order.
  const augmentRng = createRng(o.seed + 0x5eed);
  const innerRng = createRng(o.seed + 0x56a);
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
        for (let start = 0; start < n; start += o.batchSize) innerBatches(new Int32Array(Math.min(o.batchSize, n - start)), o, innerRng);
        for (let k = 0; k < drawsPerImage(o.augment) * n * o.innerSteps; k++) augmentRng(); // every image is seen K times
      },
      ...(remote?.predict ? { predict: remote.predict } : {}),
      run: (ctx, pass, order, v) => sgaEpoch(ctx, o, state, (engine ??= localSgdEngine(ctx.classifier, ctx.source, settings)), innerRng, pass, order, v),
    },
    o.onProgress,
  );
}

/** One epoch of SGA over X in `order`; null when stopped. */
async function sgaEpoch(
  ctx: PassContext,
  o: ResolvedSgaOptions,
  state: { momentum: Float32Array },
  engine: SgdEngine,
  innerRng: Rng,
  pass: number,
  order: Int32Array,
  v: Float32Array,
) {
  const { source, d, cleanPred, criterion } = ctx;
  const { batchSize, norm, xi } = o;
  const n = source.size;
  const target = criterion.target;
  const stepsPerEpoch = Math.ceil(n / batchSize);
  const totalSteps = o.epochs * stepsPerEpoch;
  if (state.momentum.length !== d) state.momentum = new Float32Array(d);
  let w = v;
  let lossSum = 0;
  let seen = 0;
  let steps = 0;
  for (let start = 0; start < n; start += batchSize) {
    const outer = range(start, Math.min(n, start + batchSize), order);
    const t = (pass - 1) * stepsPerEpoch + steps;
    const decay = o.schedule === 'constant' ? 1 : (1 + Math.cos((Math.PI * t) / totalSteps)) / 2;
    const G = new Float32Array(d);
    let u = w;
    for (const idx of innerBatches(outer, o, innerRng)) {
      if (await ctx.stopped()) return null;
      const cls = target !== undefined ? new Int32Array(idx.length).fill(target) : Int32Array.from(idx, (i) => cleanPred[i]!);
      const out = await engine.gradient({ v: u, indices: idx, cls, batchSize: idx.length });
      if (out === null) return null;
      const g = smoothGradient(out.grad, ctx.classifier.inputShape, o.smooth);
      for (let i = 0; i < d; i++) G[i]! += g[i]!;
      lossSum += out.lossSum;
      seen += idx.length;
      u = descend(u, g, o.innerStepSize * decay, norm, xi);
    }
    // The one step on v: along the aggregated gradient (or its momentum).
    w = descend(w, o.momentum > 0 ? accumulateMomentum(state.momentum, G, o.momentum) : G, o.stepSize * decay, norm, xi);
    steps++;
    o.onProgress?.({ phase: 'epoch', pass, done: start + outer.length, total: n, loss: lossSum / seen });
  }
  return { v: w, stats: { updates: steps, loss: lossSum / seen } };
}
