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

/**
 * The two measures of a universal perturbation, side by side (both over clip(x + v)):
 *
 * - fooling rate (the paper's, Moosavi-Dezfooli et al. 2017, Sec. 2): the share of images whose top-1 on x + v
 *   differs from their top-1 on x — `successRate(misclassification(), …)`. It needs no labels: it judges how v
 *   changes the classifier's own decision.
 * - error rate: the share of labelled images whose top-1 on x + v differs from their TRUE label, i.e.
 *   1 − accuracy on the perturbed images. This is what SGA (Liu et al., ICCV 2023) and ART's UniversalPerturbation
 *   report as their "fooling rate" (ART when given the true labels `y`).
 *
 * They differ where the clean top-1 is already wrong. An image misclassified on x that v sends to another wrong
 * class is fooled but no new error (the fooling rate counts it, the error rate counted it before v too); one that
 * v leaves misclassified as it was is an error but not fooled. An image correct on x that v changes counts for both.
 * So the error rate starts at 1 − clean accuracy with v = 0, where the fooling rate starts at 0.
 */

/**
 * The error rate: share of the labelled images (label ≥ 0) whose perturbed top-1 is not their true label
 * (1 − perturbed accuracy); NaN when no image has a label (a folder without labels, a prior).
 */
export function errorRate(labels: Int32Array | null | undefined, pertPred: Int32Array): number {
  if (!labels) return Number.NaN;
  if (labels.length !== pertPred.length) throw new UapError('BAD_ARGUMENT', `${labels.length} labels for ${pertPred.length} predictions`, 'labels');
  let labelled = 0;
  let wrong = 0;
  for (let i = 0; i < pertPred.length; i++) {
    const y = labels[i]!;
    if (y < 0) continue;
    labelled++;
    if (pertPred[i] !== y) wrong++;
  }
  return labelled > 0 ? wrong / labelled : Number.NaN;
}

/** Top-1 accuracy on the labelled images (label ≥ 0); NaN when none is labelled. */
export function accuracyOn(labels: Int32Array | null | undefined, pred: Int32Array): number {
  const e = errorRate(labels, pred);
  return Number.isNaN(e) ? Number.NaN : 1 - e;
}
