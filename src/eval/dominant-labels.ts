import { UapError } from '../errors.js';
import type { Labels } from '../models/labels.js';

/**
 * Dominant labels (UAP paper, Sec. 3 and Fig. 7): the labels that fooled images collapse onto. Among the images
 * whose prediction changed, count the perturbed predictions; a universal perturbation typically sends most of
 * them to a handful of classes. Browser-safe.
 */

export interface DominantLabel {
  index: number;
  /** Label id (wnid for ImageNet) and human-readable name, when a label space is given. */
  id?: string;
  name?: string;
  /** Fooled images predicted as this label on x + v. */
  count: number;
  /** count / fooled. */
  share: number;
}

/** The labels the fooled images were sent to, most frequent first. */
export interface DominantLabels {
  n: number;
  /** Images whose prediction changed. */
  fooled: number;
  /** Distinct labels among the fooled images' perturbed predictions. */
  distinct: number;
  /** The `top` most frequent, most frequent first (ties: lower index first). */
  top: DominantLabel[];
  /** Share of the fooled images that the listed labels take together. */
  topShare: number;
}

/**
 * Counts the perturbed predictions of the fooled images (those whose prediction changed) and returns the `top` most
 * frequent.
 */
export function dominantLabels(
  cleanPred: Int32Array,
  pertPred: Int32Array,
  labels?: Labels,
  top = 10,
): DominantLabels {
  if (cleanPred.length !== pertPred.length) {
    throw new UapError('BAD_ARGUMENT', `${cleanPred.length} clean and ${pertPred.length} perturbed predictions`, 'predictions');
  }
  if (!Number.isInteger(top) || top < 1) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${top}`, 'top');
  const counts = new Map<number, number>();
  let fooled = 0;
  for (let i = 0; i < cleanPred.length; i++) {
    if (cleanPred[i] === pertPred[i]) continue;
    fooled++;
    const k = pertPred[i]!;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, top);
  const list: DominantLabel[] = sorted.map(([index, count]) => ({
    index,
    ...(labels && index < labels.ids.length ? { id: labels.ids[index]!, name: labels.names[index]! } : {}),
    count,
    share: count / fooled,
  }));
  const taken = list.reduce((s, d) => s + d.count, 0);
  return { n: cleanPred.length, fooled, distinct: counts.size, top: list, topShare: fooled > 0 ? taken / fooled : 0 };
}

/** A few lines of text: rank, share, count, label. */
export function formatDominantLabels(d: DominantLabels): string[] {
  const lines = [
    `${d.fooled} of ${d.n} images fooled, onto ${d.distinct} distinct labels; the top ${d.top.length} take ${(d.topShare * 100).toFixed(1)}%:`,
  ];
  d.top.forEach((l, i) => {
    const what = l.name !== undefined ? (l.id !== undefined && l.id !== l.name ? `${l.name} (${l.id})` : l.name) : `class ${l.index}`;
    lines.push(`  ${String(i + 1).padStart(2)}. ${(l.share * 100).toFixed(1).padStart(5)}%  ${String(l.count).padStart(6)}  ${what}`);
  });
  return lines;
}
