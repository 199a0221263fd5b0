import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UapError } from '../errors.js';
import { dominantLabels, formatDominantLabels } from './dominant-labels.js';

const labels = { ids: ['n0', 'n1', 'n2', 'n3', 'n4'], names: ['tench', 'goldfish', 'shark', 'hen', 'ostrich'] };

test('counts perturbed predictions of fooled images only, most frequent first', () => {
  //               0  1  2  3  4  5  6  7  8  9
  const clean = Int32Array.of(0, 1, 2, 3, 4, 0, 1, 2, 3, 3);
  const pert = Int32Array.of(3, 3, 3, 3, 1, 0, 4, 4, 2, 3);
  // Fooled: 0→3, 1→3, 2→3, 4→1, 6→4, 7→4, 8→2 (images 3, 5 and 9 keep their label; 3 and 9 "are" 3 already).
  const d = dominantLabels(clean, pert, labels, 3);
  assert.equal(d.n, 10);
  assert.equal(d.fooled, 7);
  assert.equal(d.distinct, 4);
  assert.deepEqual(
    d.top.map((l) => [l.index, l.name, l.id, l.count]),
    [
      [3, 'hen', 'n3', 3],
      [4, 'ostrich', 'n4', 2],
      [1, 'goldfish', 'n1', 1], // tie with class 2: lower index first
    ],
  );
  assert.equal(d.top[0]!.share, 3 / 7);
  assert.equal(d.topShare, 6 / 7);
  const text = formatDominantLabels(d);
  assert.match(text[0]!, /7 of 10 images fooled, onto 4 distinct labels/);
  assert.match(text[1]!, /42\.9%.*3.*hen \(n3\)/);
});

test('no fooled images, no label space, bad input', () => {
  const d = dominantLabels(Int32Array.of(1, 2), Int32Array.of(1, 2));
  assert.deepEqual(d, { n: 2, fooled: 0, distinct: 0, top: [], topShare: 0 });
  const e = dominantLabels(Int32Array.of(1, 2), Int32Array.of(7, 2));
  assert.deepEqual(e.top, [{ index: 7, count: 1, share: 1 }]);
  const bad = (x: unknown) => x instanceof UapError && x.code === 'BAD_ARGUMENT';
  assert.throws(() => dominantLabels(Int32Array.of(1), Int32Array.of(1, 2)), bad);
  assert.throws(() => dominantLabels(Int32Array.of(1), Int32Array.of(1), labels, 0), bad);
});
