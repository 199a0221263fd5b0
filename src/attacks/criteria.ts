import { UapError } from '../errors.js';

/**
 * Criteria (as in Foolbox 3): the one test of "did the perturbation work on this image?", shared by the
 * attacks' "is x_i + v already fooled?" check, their stopping rules and their per-pass evaluation.
 *
 * - Misclassification (untargeted; the paper's fooling): the top-1 on clip(x + v) differs from the top-1 on x.
 *   The clean top-1 is the reference, not the true label: a universal perturbation is judged by how it changes
 *   the classifier's own decision (UAP paper, Sec. 2).
 * - TargetedMisclassification: the top-1 on clip(x + v) is the target class t.
 */
export interface Criterion {
  /** The target class for a targeted criterion; undefined for misclassification. */
  readonly target: number | undefined;
  /** True when an image whose clean top-1 is `clean` and whose perturbed top-1 is `perturbed` counts as adversarial. */
  isAdversarial(clean: number, perturbed: number): boolean;
}

/** The untargeted criterion (the paper's fooling): the perturbed top-1 differs from the clean top-1. */
export function misclassification(): Criterion {
  return { target: undefined, isAdversarial: (clean, perturbed) => perturbed !== clean };
}

/** `classes` (the number of classes of the classifier) bounds t; BAD_ARGUMENT naming `option` otherwise. */
export function targetedMisclassification(target: number, classes?: number, option = 'target'): Criterion {
  if (!Number.isInteger(target) || target < 0 || (classes !== undefined && target >= classes)) {
    throw new UapError('BAD_ARGUMENT', `class ${target} outside 0..${classes === undefined ? 'K − 1' : classes - 1}`, option);
  }
  return { target, isAdversarial: (_clean, perturbed) => perturbed === target };
}

/** The attacks' criterion for an optional target: targeted when given, misclassification otherwise. */
export function criterionFor(target: number | undefined, classes?: number): Criterion {
  return target === undefined ? misclassification() : targetedMisclassification(target, classes);
}

/** Share of images that `criterion` calls adversarial, given their clean and perturbed top-1. */
export function successRate(criterion: Criterion, cleanPred: Int32Array, pertPred: Int32Array): number {
  let hits = 0;
  for (let i = 0; i < pertPred.length; i++) if (criterion.isAdversarial(cleanPred[i]!, pertPred[i]!)) hits++;
  return hits / pertPred.length;
}
