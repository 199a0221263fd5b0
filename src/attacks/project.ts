import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';

/** The norms a universal perturbation can be bounded in (Algorithm 1's p). */
export type LpNorm = 'inf' | 2 | 1;

/** Throws BAD_ARGUMENT unless `p` is one of 'inf', 2, 1 (`option` names the flag in the message). */
export function checkNorm(p: unknown, option = 'norm'): LpNorm {
  if (p === 'inf' || p === 2 || p === 1) return p;
  throw new UapError('BAD_ARGUMENT', `unknown norm ${JSON.stringify(p)}; expected 'inf', 2 or 1`, option);
}

/** Throws BAD_ARGUMENT unless ξ is a finite number > 0. */
export function checkXi(xi: unknown, option = 'xi'): number {
  if (typeof xi !== 'number' || !Number.isFinite(xi) || xi <= 0) {
    throw new UapError('BAD_ARGUMENT', `must be a finite number > 0, got ${String(xi)}`, option);
  }
  return xi;
}

/** ‖v‖_p, accumulated in float64. */
export function lpNorm(v: ArrayLike<number>, p: LpNorm): number {
  let s = 0;
  if (p === 'inf') {
    for (let i = 0; i < v.length; i++) s = Math.max(s, Math.abs(v[i]!));
    return s;
  }
  if (p === 2) {
    for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
    return Math.sqrt(s);
  }
  for (let i = 0; i < v.length; i++) s += Math.abs(v[i]!);
  return s;
}

/**
 * Euclidean projection onto the ℓp ball of radius ξ: argmin_{‖w‖_p ≤ ξ} ‖w − v‖₂.
 * This is P_{p,ξ} of Algorithm 1 (UAP paper, eq. 3 and the line "v ← P_{p,ξ}(v + Δv_i)").
 *
 * - p = ∞: clip every coordinate to [−ξ, ξ].
 * - p = 2: scale v down to norm ξ when it is outside.
 * - p = 1: soft-threshold with the θ found by sorting (Duchi, Shalev-Shwartz, Singer, Chandra,
 *   ICML 2008, Fig. 1): w = sign(v)·max(|v| − θ, 0) with Σ|w| = ξ. O(D log D).
 *
 * Points inside the ball are returned unchanged (a copy for Float32Array input, a new tensor for
 * tensor input; the input is never modified). A Tensor3D in gives a Tensor3D out; the caller owns it.
 */
export function projectLp(v: Float32Array, xi: number, p: LpNorm): Float32Array;
export function projectLp(v: tf.Tensor3D, xi: number, p: LpNorm): tf.Tensor3D;
export function projectLp(v: Float32Array | tf.Tensor3D, xi: number, p: LpNorm): Float32Array | tf.Tensor3D {
  checkXi(xi);
  checkNorm(p);
  if (v instanceof Float32Array) return projectArray(v, xi, p);
  if (p === 'inf') return tf.clipByValue(v, -xi, xi);
  // ℓ2 and ℓ1 need a global reduction (and a sort for ℓ1): do them on the host, exactly, in float64.
  return tf.tensor3d(projectArray(v.dataSync() as Float32Array, xi, p), v.shape);
}

function projectArray(v: Float32Array, xi: number, p: LpNorm): Float32Array {
  const out = new Float32Array(v);
  if (p === 'inf') {
    for (let i = 0; i < out.length; i++) out[i] = Math.min(xi, Math.max(-xi, out[i]!));
    return out;
  }
  const norm = lpNorm(v, p);
  if (norm <= xi) return out;
  if (p === 2) {
    const s = xi / norm;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! * s;
    // float32 rounding may leave the norm a few ulps above ξ; shrink by a hair so that ‖w‖ ≤ ξ holds.
    if (lpNorm(out, 2) > xi) for (let i = 0; i < out.length; i++) out[i] = out[i]! * (1 - 1e-7);
    return out;
  }
  const theta = l1Threshold(v, xi);
  for (let i = 0; i < out.length; i++) {
    const a = Math.abs(v[i]!) - theta;
    out[i] = a > 0 ? Math.sign(v[i]!) * a : 0;
  }
  return out;
}

/**
 * θ of the ℓ1-ball projection for ‖v‖₁ > ξ (Duchi et al. 2008): with u = |v| sorted descending,
 * ρ = max { j : u_j − (Σ_{r≤j} u_r − ξ)/j > 0 } and θ = (Σ_{r≤ρ} u_r − ξ)/ρ.
 */
export function l1Threshold(v: ArrayLike<number>, xi: number): number {
  const u = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) u[i] = Math.abs(v[i]!);
  u.sort().reverse();
  let cumsum = 0;
  let theta = 0;
  for (let j = 0; j < u.length; j++) {
    cumsum += u[j]!;
    const t = (cumsum - xi) / (j + 1);
    if (u[j]! - t > 0) theta = t;
    else break; // the condition holds for a prefix of j only (Duchi et al., Lemma 2)
  }
  return Math.max(theta, 0);
}
