/**
 * A label space: output i of a Classifier is class i. ImageNet classifiers are always exposed in the
 * standard order (sorted wnids, ../shared/imagenet-sample/synset_words.txt), whatever their file's own
 * order, so that predictions of different models compare.
 */
export interface Labels {
  /** Short machine ids (wnids for ImageNet, '0'..'9' for MNIST). */
  readonly ids: readonly string[];
  /** Human-readable names. */
  readonly names: readonly string[];
}

/** The ten MNIST classes, ids and names '0'..'9'. */
export function digitLabels(): Labels {
  const ids = Array.from({ length: 10 }, (_, i) => String(i));
  return { ids, names: ids };
}

/** Parses synset_words.txt lines: "n01440764 tench, Tinca tinca". */
export function parseSynsetWords(text: string): Labels {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const ids: string[] = [];
  const names: string[] = [];
  for (const line of lines) {
    const space = line.indexOf(' ');
    ids.push(space < 0 ? line : line.slice(0, space));
    names.push(space < 0 ? line : line.slice(space + 1).split(',')[0]!.trim());
  }
  return { ids, names };
}

/** Finds a class by index, id (wnid) or name (case-insensitive); -1 when none matches. */
export function findClass(labels: Labels, query: string): number {
  if (/^\d+$/.test(query)) {
    const i = Number(query);
    return i < labels.ids.length ? i : -1;
  }
  const q = query.toLowerCase();
  const byId = labels.ids.findIndex((id) => id.toLowerCase() === q);
  if (byId >= 0) return byId;
  return labels.names.findIndex((n) => n.toLowerCase() === q);
}
