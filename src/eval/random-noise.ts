import { UapError } from '../errors.js';
import type { LpNorm } from '../attacks/project.js';
import { lpNorm } from '../attacks/project.js';
import { createRng, gaussianArray, randomSigns } from '../util/rng.js';

/**
 * Random perturbations of the same norm as a universal one: the baseline the paper compares against
 * (Sec. 3: random noise at ℓ2 2000 fools ≈10% of images, the universal perturbation ≈85%).
 *  - 'sign':     every value ±ξ (uniform random signs) — the strongest random point of the ℓ∞ ball;
 *  - 'uniform':  every value uniform in [−ξ, ξ], then scaled to the norm;
 *  - 'gaussian': i.i.d. normal, scaled so its ℓp norm is exactly ξ.
 * For ℓ∞, 'sign' is the baseline we report; for ℓ2, 'gaussian' (a random direction).
 */
export type NoiseKind = 'sign' | 'uniform' | 'gaussian';

/**
 * A random perturbation of `size` values whose ℓp norm is ξ (see NoiseKind), reproducible from `seed`: the baseline
 * a universal perturbation is compared with.
 */
export function randomPerturbation(kind: NoiseKind, size: number, norm: LpNorm, xi: number, seed: number): Float32Array {
  if (!(xi > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${xi}`, 'xi');
  const rng = createRng(seed);
  let v: Float32Array;
  if (kind === 'sign') v = randomSigns(size, rng);
  else if (kind === 'gaussian') v = gaussianArray(size, rng);
  else v = Float32Array.from({ length: size }, () => 2 * rng() - 1);
  const scale = xi / lpNorm(v, norm);
  for (let i = 0; i < v.length; i++) v[i]! *= scale;
  return v;
}
