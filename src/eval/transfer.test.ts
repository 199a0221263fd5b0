import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { lpNorm } from '../attacks/project.js';
import { AffineClassifier } from '../attacks/testing/affine-classifier.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { evaluatePerturbation } from './fooling-rate.js';
import { formatTransferTable, resizePerturbation, transferMatrix, uniqueLabels, type TransferRow } from './transfer.js';

await tf.setBackend('cpu');

/** Counts forward passes, to check that clean predictions are computed once per model. */
function counting(c: Classifier): Classifier & { calls: number } {
  const wrapped = Object.create(c) as Classifier & { calls: number };
  wrapped.calls = 0;
  wrapped.logits = async (x) => {
    wrapped.calls++;
    return c.logits(x);
  };
  return wrapped;
}

const pixels = [[10, 0], [0, 10], [10, 5], [3, 4], [1, 0.5]];
// A: logits (x0, x1, −2 − x0); B: channels swapped. Both 1×1×2.
const A = counting(new AffineClassifier([1, 1, 2], [1, 0, 0, 1, -1, 0], [0, 0, -2], 'A'));
const B = counting(new AffineClassifier([1, 1, 2], [0, 1, 1, 0, 0, -1], [0, 0, -2], 'B'));
// C: A on 2×2×2 images (sums of each channel over the 4 pixels): on tiled images it predicts what A does.
const C = counting(new AffineClassifier([2, 2, 2], [1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, -1, 0, -1, 0, -1, 0, -1, 0], [0, 0, -8], 'C'));
// D: greyscale 1×1×1.
const D = counting(new AffineClassifier([1, 1, 1], [1, -1], [0, 5], 'D'));

const x1 = tf.tensor4d(pixels.flat(), [5, 1, 1, 2]);
const x2 = tf.tensor4d(pixels.flatMap((p) => [...p, ...p, ...p, ...p]), [5, 2, 2, 2]);
const xg = tf.tensor4d(pixels.map((p) => p[0]!), [5, 1, 1, 1]);

const rows: TransferRow[] = [
  { label: 'A', v: Float32Array.of(-6, 0), shape: [1, 1, 2] },
  { label: 'B', v: Float32Array.of(0, -6), shape: [1, 1, 2] },
  { label: 'C', v: Float32Array.of(-6, 0, -6, 0, -6, 0, 2, 0), shape: [2, 2, 2] },
];
const columns = () => [
  { label: 'A', classifier: A, images: x1 },
  { label: 'B', classifier: B, images: x1 },
  { label: 'C', classifier: C, images: x2 },
  { label: 'D', classifier: D, images: xg },
];

test('matrix shape, cells equal direct evaluations, size mismatches, clean predictions once per model', async () => {
  for (const c of [A, B, C, D]) c.calls = 0;
  const before = tf.memory().numTensors;
  const m = await transferMatrix(rows, columns(), { batchSize: 2 });
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  const calls = [A, B, C, D].map((c) => c.calls);
  assert.equal(m.cells.length, 3);
  for (const r of m.cells) assert.equal(r.length, 4);
  assert.deepEqual(m.columns.map((c) => [c.label, c.modelId, c.n]), [['A', 'A', 5], ['B', 'B', 5], ['C', 'C', 5], ['D', 'D', 5]]);
  assert.deepEqual(m.rows.map((r) => [r.label, r.normValue]), [['A', 6], ['B', 6], ['C', 6]]);

  const direct = async (clf: Classifier, x: tf.Tensor4D, v: Float32Array) => (await evaluatePerturbation(clf, x, null, v)).foolingRate;
  const rate = (r: number, c: number) => {
    const cell = m.cells[r]![c]!;
    assert.equal(cell.status, 'ok', `cell ${r},${c}`);
    return cell.status === 'ok' ? cell.foolingRate : NaN;
  };
  assert.equal(rate(0, 0), 2 / 5); // the diagonal: A's perturbation on A
  assert.equal(rate(0, 0), await direct(A, x1, rows[0]!.v));
  assert.equal(rate(0, 1), await direct(B, x1, rows[0]!.v));
  assert.equal(rate(1, 0), await direct(A, x1, rows[1]!.v));
  assert.equal(rate(1, 1), await direct(B, x1, rows[1]!.v));
  assert.equal(rate(2, 2), await direct(C, x2, rows[2]!.v));
  assert.deepEqual(m.cells[0]![2], { status: 'size-mismatch', perturbationShape: [1, 1, 2], modelShape: [2, 2, 2], reason: 'resize-not-requested' });
  assert.deepEqual(m.cells[2]![0], { status: 'size-mismatch', perturbationShape: [2, 2, 2], modelShape: [1, 1, 2], reason: 'resize-not-requested' });
  for (let r = 0; r < 3; r++) assert.equal((m.cells[r]![3] as { reason: string }).reason, 'channels-differ');

  // 5 images in batches of 2 = 3 forward passes for the clean predictions plus 3 per fitting row.
  assert.deepEqual(calls, [3 + 2 * 3, 3 + 2 * 3, 3 + 1 * 3, 3]);

  const table = formatTransferTable(m);
  assert.match(table[0]!, /perturbation \\ model\s+A\s+B\s+C\s+D/);
  assert.match(table[2]!, /^A\s+40\.0%.*size mismatch\s+size mismatch$/);
});

test('--resize: bilinear resize, re-projected; channels still mismatch', async () => {
  const m = await transferMatrix(rows, columns(), { resize: true });
  const c02 = m.cells[0]![2]!;
  assert.ok(c02.status === 'ok' && c02.resized);
  // A's v upsampled to 2×2 is constant, so C (A on tiled images) is fooled exactly as A is.
  assert.equal(c02.status === 'ok' && c02.foolingRate, 2 / 5);
  const c20 = m.cells[2]![0]!;
  assert.ok(c20.status === 'ok' && c20.resized);
  const c00 = m.cells[0]![0]!;
  assert.ok(c00.status === 'ok' && !c00.resized);
  assert.equal(m.cells[0]![3]!.status, 'size-mismatch');
  assert.ok(formatTransferTable(m)[2]!.includes('40.0% r'));
});

test('resizePerturbation keeps the values of a constant field and never grows the norm', () => {
  const up = resizePerturbation(Float32Array.of(-6, 3), [1, 1, 2], [3, 2, 2]);
  assert.deepEqual(Array.from(up), [-6, 3, -6, 3, -6, 3, -6, 3, -6, 3, -6, 3]);
  // ℓ2: 4 copies of 3 have norm 6 → projected back onto the ball of radius 3.
  const l2 = resizePerturbation(Float32Array.of(3), [1, 1, 1], [2, 2, 1], 2);
  assert.ok(Math.abs(lpNorm(l2, 2) - 3) < 1e-5);
  for (const x of l2) assert.ok(Math.abs(x - 1.5) < 1e-5);
  // ℓ∞ after resizing an irregular field is at most the original.
  const v = Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => ((i * 37) % 21) - 10);
  const r = resizePerturbation(v, [8, 8, 3], [5, 7, 3]);
  assert.equal(r.length, 5 * 7 * 3);
  assert.ok(lpNorm(r, 'inf') <= 10);
  assert.throws(() => resizePerturbation(v, [8, 8, 3], [4, 4, 1]), (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT');
});

test('lazy columns are opened one at a time and released; labels made unique', async () => {
  const events: string[] = [];
  const lazy = columns().slice(0, 2).map((c) => ({
    label: c.label,
    open: async () => {
      events.push(`open ${c.label}`);
      return { ...c, release: () => void events.push(`release ${c.label}`) };
    },
  }));
  const m = await transferMatrix(rows.slice(0, 1), lazy);
  assert.deepEqual(events, ['open A', 'release A', 'open B', 'release B']);
  assert.equal(m.cells.length, 1);
  assert.deepEqual(uniqueLabels(['a', 'b', 'a', 'a']), ['a', 'b', 'a (2)', 'a (3)']);
  await assert.rejects(transferMatrix([], columns()), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT');
});
