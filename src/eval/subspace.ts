import * as tf from '@tensorflow/tfjs';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { deepfool, DEEPFOOL_DEFAULTS } from '../attacks/deepfool.js';
import { range, toSource, type ImageSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { createRng, gaussianArray, type Rng } from '../util/rng.js';
import { predict } from '../models/predict.js';
import { evaluatePerturbation } from './fooling-rate.js';

/**
 * Section 4 of the UAP paper: the normals of the decision boundary near natural images are correlated, they
 * concentrate in a low-dimensional subspace, and random vectors drawn from that subspace fool far more images
 * than unstructured random vectors of the same ℓ2 norm (paper: 38% against 10% at ‖v‖₂ = 2000 with d′ = 100).
 *
 * - Normals: r(x) = the ℓ2 DeepFool perturbation of x (minimal, so orthogonal to the boundary at x + r(x)),
 *   normalised to unit ℓ2 norm; N is the n×d matrix of those rows.
 * - Singular values of N from its n×n Gram matrix G = N Nᵀ = U Σ² Uᵀ (symmetric eigen-decomposition,
 *   ml-matrix): σ_i = √λ_i. The d×d matrix NᵀN is never formed (d = 150,528 for 224×224×3).
 *   Right singular vectors: v_i = Nᵀ u_i / σ_i.
 * - Baseline spectrum (Fig. 9): n random unit vectors of the same dimension d.
 * - Fooling rate of random vectors of the span of v_1 … v_d′ (z ~ N(0, I_d′), v = Σ z_i v_i, scaled to ‖v‖₂ = ξ),
 *   against i.i.d. Gaussian vectors of the same norm.
 * Browser-safe. The Gram matrix is summed in float64 on the CPU (precision); Nᵀu_i goes through tf.matMul.
 */

export interface NormalsOptions {
  /** Images per DeepFool call (default 16). */
  batchSize?: number;
  /** DeepFool: classes considered, overshoot, iterations (defaults: DEEPFOOL_DEFAULTS). */
  candidates?: number;
  overshoot?: number;
  maxIter?: number;
  /** Evaluate DeepFool iterates on clip(x + r) (default false: the geometry of the classifier itself). */
  clip?: boolean;
  /** Called after every DeepFool batch, with the normals that converged so far. */
  onProgress?: (e: { done: number; total: number; converged: number }) => void;
  signal?: AbortSignal;
}

export interface Normals {
  /** count × d, row-major: unit ℓ2 rows r(x)/‖r(x)‖₂ of the images where DeepFool converged. */
  rows: Float32Array;
  count: number;
  d: number;
  /** Images tried. */
  attempted: number;
  /** ‖r(x)‖₂ of the kept rows (pixel units): the distance to the boundary. */
  norms: Float32Array;
  /** Index (in the source) of the image each row comes from. */
  imageIndex: Int32Array;
}

/** Unit DeepFool (ℓ2) normals of every image of a source, batched; images where DeepFool fails are skipped. */
export async function deepfoolNormals(classifier: Classifier, images: tf.Tensor4D | ImageSource, options: NormalsOptions = {}): Promise<Normals> {
  const source = toSource(images);
  const n = source.size;
  const [h, w, c] = classifier.inputShape;
  const d = h * w * c;
  const batch = options.batchSize ?? 16;
  if (!Number.isInteger(batch) || batch < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${batch}`, 'batchSize');
  const rows = new Float32Array(n * d);
  const norms = new Float32Array(n);
  const imageIndex = new Int32Array(n);
  let count = 0;
  for (let start = 0; start < n; start += batch) {
    if (options.signal?.aborted) throw new UapError('INTERRUPTED', 'normal collection stopped');
    const end = Math.min(n, start + batch);
    const x = await source.get(range(start, end));
    let r;
    try {
      r = await deepfool(classifier, x, {
        norm: 2,
        candidates: options.candidates ?? DEEPFOOL_DEFAULTS.candidates,
        overshoot: options.overshoot ?? DEEPFOOL_DEFAULTS.overshoot,
        maxIter: options.maxIter ?? DEEPFOOL_DEFAULTS.maxIter,
        clip: options.clip ?? false,
        batchSize: batch,
      });
    } finally {
      x.dispose();
    }
    for (let j = 0; j < end - start; j++) {
      if (!r.converged[j]) continue;
      const row = r.r.subarray(j * d, (j + 1) * d);
      let s = 0;
      for (let i = 0; i < d; i++) s += row[i]! * row[i]!;
      const norm = Math.sqrt(s);
      if (!(norm > 0)) continue;
      const out = rows.subarray(count * d, (count + 1) * d);
      for (let i = 0; i < d; i++) out[i] = row[i]! / norm;
      norms[count] = norm;
      imageIndex[count] = start + j;
      count++;
    }
    options.onProgress?.({ done: end, total: n, converged: count });
  }
  return {
    rows: rows.slice(0, count * d),
    count,
    d,
    attempted: n,
    norms: norms.slice(0, count),
    imageIndex: imageIndex.slice(0, count),
  };
}

/**
 * G = A Aᵀ for A (n × d, row-major float32), accumulated in float64 on the CPU: the Gram matrix squares the
 * condition number, so float32 sums (tf.matMul) would bury every singular value below √ε·σ₁ ≈ 3e-4·σ₁ in noise;
 * with float64 sums the floor is far below what float32 normals resolve. Cost n²d/2 multiply-adds
 * (≈ 2·10¹⁰ for 500 ImageNet normals: tens of seconds), memory n² doubles.
 */
export function gramMatrix(a: Float32Array, n: number, d: number, chunk = 4096): Float64Array {
  if (a.length !== n * d) throw new UapError('BAD_ARGUMENT', `${a.length} values for ${n}×${d}`, 'matrix');
  const g = new Float64Array(n * n);
  // Column chunks keep the rows' current pieces in cache while every pair is summed.
  for (let c0 = 0; c0 < d; c0 += chunk) {
    const len = Math.min(d, c0 + chunk) - c0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) g[i * n + j] = g[i * n + j]! + dot(a, i * d + c0, j * d + c0, len);
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j]!;
  return g;
}

/** Σ_k a[p + k]·a[q + k], k < len, in float64 (four accumulators). */
function dot(a: Float32Array, p: number, q: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += a[p + k]! * a[q + k]!;
    s1 += a[p + k + 1]! * a[q + k + 1]!;
    s2 += a[p + k + 2]! * a[q + k + 2]!;
    s3 += a[p + k + 3]! * a[q + k + 3]!;
  }
  for (; k < len; k++) s0 += a[p + k]! * a[q + k]!;
  return s0 + s1 + s2 + s3;
}

export interface GramSpectrum {
  /** Singular values of A, largest first (n of them; √ of the Gram's eigenvalues, negatives from rounding → 0). */
  singularValues: Float64Array;
  /** Left singular vectors: u[i] (length n) goes with singularValues[i]. */
  u: Float64Array[];
}

/** Singular values (and left singular vectors) of A from its Gram matrix G = A Aᵀ (n×n, float64, row-major). */
export function spectrumFromGram(g: Float64Array, n: number): GramSpectrum {
  if (g.length !== n * n) throw new UapError('BAD_ARGUMENT', `${g.length} values for ${n}×${n}`, 'gram');
  if (n === 0) return { singularValues: new Float64Array(0), u: [] };
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, g[i * n + j]!);
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const lambda = evd.realEigenvalues;
  const vecs = evd.eigenvectorMatrix;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => lambda[b]! - lambda[a]!);
  const singularValues = Float64Array.from(order, (k) => Math.sqrt(Math.max(0, lambda[k]!)));
  const u = order.map((k) => Float64Array.from(vecs.getColumn(k)));
  return { singularValues, u };
}

/** Singular values and left singular vectors of A (n × d, row-major) without forming the d×d matrix AᵀA. */
export function svdViaGram(a: Float32Array, n: number, d: number): GramSpectrum {
  return spectrumFromGram(gramMatrix(a, n, d), n);
}

/**
 * The first k right singular vectors v_i = Aᵀ u_i / σ_i (k × d, row-major), from the spectrum of A.
 * Vectors whose σ_i is below `relTol`·σ_1 (the numerical null space) are left out, so fewer than k may come back.
 */
export function rightSingularVectors(
  a: Float32Array,
  n: number,
  d: number,
  spectrum: GramSpectrum,
  k: number,
  relTol = 1e-5,
  blockRows = 128,
): { v: Float32Array; k: number } {
  const s1 = spectrum.singularValues[0] ?? 0;
  let kk = 0;
  while (kk < Math.min(k, n) && spectrum.singularValues[kk]! > relTol * s1 && spectrum.singularValues[kk]! > 0) kk++;
  if (kk === 0) return { v: new Float32Array(0), k: 0 };
  // Coefficients C (kk × n): row i = u_iᵀ / σ_i, so V = C A.
  const coef = new Float32Array(kk * n);
  for (let i = 0; i < kk; i++) for (let j = 0; j < n; j++) coef[i * n + j] = spectrum.u[i]![j]! / spectrum.singularValues[i]!;
  let acc: tf.Tensor2D = tf.zeros([kk, d]);
  for (let j0 = 0; j0 < n; j0 += blockRows) {
    const j1 = Math.min(n, j0 + blockRows);
    const next = tf.tidy(() => {
      const cBlock = tf.slice(tf.tensor2d(coef, [kk, n]), [0, j0], [kk, j1 - j0]);
      const aBlock = tf.tensor2d(a.subarray(j0 * d, j1 * d), [j1 - j0, d]);
      return tf.add(acc, tf.matMul(cBlock, aBlock)) as tf.Tensor2D;
    });
    acc.dispose();
    acc = next;
  }
  const v = acc.dataSync() as Float32Array;
  acc.dispose();
  return { v: new Float32Array(v), k: kk };
}

/** n random unit vectors of dimension d (i.i.d. Gaussian rows, normalised), n × d row-major. */
export function randomUnitRows(n: number, d: number, rng: Rng): Float32Array {
  const out = gaussianArray(n * d, rng);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * d, (i + 1) * d);
    let s = 0;
    for (let j = 0; j < d; j++) s += row[j]! * row[j]!;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) row[j] = row[j]! * inv;
  }
  return out;
}

/** A random vector of the span of the first `dim` rows of V (orthonormal, k × d): Σ z_i v_i, z ~ N(0, I), scaled to ‖·‖₂ = ξ. */
export function randomInSpan(v: Float32Array, d: number, dim: number, xi: number, rng: Rng): Float32Array {
  if (dim < 1 || dim * d > v.length) throw new UapError('BAD_ARGUMENT', `span of ${dim} vectors, ${v.length / d} available`, 'dims');
  const z = gaussianArray(dim, rng);
  const out = new Float64Array(d);
  for (let i = 0; i < dim; i++) {
    const zi = z[i]!;
    const row = v.subarray(i * d, (i + 1) * d);
    for (let j = 0; j < d; j++) out[j] = out[j]! + zi * row[j]!;
  }
  let s = 0;
  for (let j = 0; j < d; j++) s += out[j]! * out[j]!;
  const scale = s > 0 ? xi / Math.sqrt(s) : 0;
  return Float32Array.from(out, (x) => x * scale);
}

/** An i.i.d. Gaussian vector scaled to ‖·‖₂ = ξ (the unstructured baseline). */
export function randomGaussian(d: number, xi: number, rng: Rng): Float32Array {
  const g = gaussianArray(d, rng);
  let s = 0;
  for (let j = 0; j < d; j++) s += g[j]! * g[j]!;
  const scale = xi / Math.sqrt(s);
  for (let j = 0; j < d; j++) g[j] = g[j]! * scale;
  return g;
}

/**
 * Options of subspaceAnalysis: the dimensions d′ to test, the norm and number of random vectors, and DeepFool's
 * settings.
 */
export interface SubspaceOptions {
  /** Subspace dimensions d′ to test (each clamped to the rank found). */
  dims: readonly number[];
  /** ℓ2 norm ξ of the random vectors, pixel units (paper: 2000 on 224×224×3). */
  xi: number;
  /** Random vectors per d′ (and for the baseline); the fooling rates are averaged (default 5). */
  samples?: number;
  seed?: number;
  /** Evaluate on clip(x + v, 0, 255) (default true). */
  clip?: boolean;
  evalBatchSize?: number;
  /**
   * Refuse more images than this (default 2000): the Gram matrix is n×n doubles, its eigen-decomposition O(n³)
   * in JavaScript, and the normals n·d floats (2000 ImageNet normals: 1.2 GB).
   */
  maxImages?: number;
  normals?: Omit<NormalsOptions, 'onProgress' | 'signal'>;
  /** Called as the analysis goes: DeepFool normals, then the spectrum, then the evaluation of random vectors. */
  onProgress?: (e:
    | { phase: 'normals'; done: number; total: number; converged: number }
    | { phase: 'spectrum' }
    | { phase: 'evaluate'; what: string; done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface SubspaceFooling {
  /** d′ asked for, and the dimension used (at most the number of nonzero singular values). */
  dim: number;
  dimUsed: number;
  /** Mean fooling rate over the samples, and each sample's. */
  foolingRate: number;
  samples: number[];
}

/**
 * The Section 4 analysis: normals found, singular values of the normals and of random vectors, and fooling rates of
 * random vectors from the subspace vs unstructured ones.
 */
export interface SubspaceResult {
  /** Images DeepFool ran on, and normals kept (converged). */
  attempted: number;
  normals: number;
  d: number;
  /** Singular values of the normals' matrix N (unit rows), largest first. */
  singularValues: number[];
  /** Singular values of as many random unit vectors of dimension d. */
  randomSingularValues: number[];
  /** Mean ‖r(x)‖₂ (pixel units): how far the boundary is on average. */
  meanDistance: number;
  xi: number;
  nEval: number;
  foolingRates: SubspaceFooling[];
  randomFoolingRate: { foolingRate: number; samples: number[] };
}

/**
 * The whole Section 4 analysis. `images` give the normals; `evalImages` (default: the same images) are the
 * ones the random perturbations are measured on.
 */
export async function subspaceAnalysis(
  classifier: Classifier,
  images: tf.Tensor4D | ImageSource,
  options: SubspaceOptions,
  evalImages?: tf.Tensor4D | ImageSource,
): Promise<SubspaceResult & { basis: { v: Float32Array; k: number } }> {
  const samples = options.samples ?? 5;
  if (!Number.isInteger(samples) || samples < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${samples}`, 'samples');
  if (!(options.xi > 0 && Number.isFinite(options.xi))) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${options.xi}`, 'xi');
  if (options.dims.length === 0) throw new UapError('BAD_ARGUMENT', 'no dimensions', 'dims');
  for (const dim of options.dims) {
    if (!Number.isInteger(dim) || dim < 1) throw new UapError('BAD_ARGUMENT', `must be integers ≥ 1, got ${dim}`, 'dims');
  }
  const seed = options.seed ?? 0;
  const clip = options.clip ?? true;
  const evalBatch = options.evalBatchSize ?? 64;
  const maxImages = options.maxImages ?? 2000;
  const size = toSource(images).size;
  if (size > maxImages) {
    throw new UapError('BAD_ARGUMENT', `${size} images for the normals; at most ${maxImages} (the Gram matrix is n×n): take fewer`, 'images');
  }

  const normals = await deepfoolNormals(classifier, images, {
    ...options.normals,
    signal: options.signal,
    onProgress: (e) => options.onProgress?.({ phase: 'normals', ...e }),
  });
  if (normals.count === 0) throw new UapError('BAD_INPUT', 'DeepFool converged on none of the images: no normals', 'images');
  const { count: n, d } = normals;
  options.onProgress?.({ phase: 'spectrum' });
  const spectrum = svdViaGram(normals.rows, n, d);
  const maxDim = Math.max(...options.dims);
  const basis = rightSingularVectors(normals.rows, n, d, spectrum, maxDim);
  let meanDistance = 0;
  for (const x of normals.norms) meanDistance += x / n;
  normals.rows = new Float32Array(0); // let the n×d matrix go before the random one is made

  const rng = createRng(seed);
  const randomSpectrum = svdViaGram(randomUnitRows(n, d, rng), n, d);

  const evalSource = toSource(evalImages ?? images, 'evaluation images');
  const cleanPred = await predict(classifier, evalSource, evalBatch);
  const fool = async (v: Float32Array, what: string): Promise<number> => {
    if (options.signal?.aborted) throw new UapError('INTERRUPTED', 'subspace analysis stopped');
    const e = await evaluatePerturbation(classifier, evalSource, null, v, {
      clip,
      batchSize: evalBatch,
      cleanPred,
      signal: options.signal,
      onProgress: (p) => options.onProgress?.({ phase: 'evaluate', what, ...p }),
    });
    return e.foolingRate;
  };

  const foolingRates: SubspaceFooling[] = [];
  for (const dim of options.dims) {
    const used = Math.min(dim, basis.k);
    const rates: number[] = [];
    const dimRng = createRng(seed * 1000003 + dim);
    for (let s = 0; s < samples; s++) rates.push(await fool(randomInSpan(basis.v, d, used, options.xi, dimRng), `d′ = ${dim}, sample ${s + 1}`));
    foolingRates.push({ dim, dimUsed: used, foolingRate: mean(rates), samples: rates });
  }
  const baseRng = createRng(seed * 1000003 - 1);
  const baseline: number[] = [];
  for (let s = 0; s < samples; s++) baseline.push(await fool(randomGaussian(d, options.xi, baseRng), `random, sample ${s + 1}`));

  return {
    attempted: normals.attempted,
    normals: n,
    d,
    singularValues: Array.from(spectrum.singularValues),
    randomSingularValues: Array.from(randomSpectrum.singularValues),
    meanDistance,
    xi: options.xi,
    nEval: evalSource.size,
    foolingRates,
    randomFoolingRate: { foolingRate: mean(baseline), samples: baseline },
    basis,
  };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
