import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UapError } from '../errors.js';
import { readDominantLabels, readEval, readSamples, readSubspace, readSweep, readTransfer } from './schemas.js';

const badInput = (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT' && e.message.startsWith('f.json: ');

test('sweep: a bare list, uap sweep’s {sizes} and sorting by size', () => {
  const a = readSweep([{ size: 200, foolingRateX: 0.9, foolingRateVal: 0.7, seconds: 3 }, { size: 100, foolingRateX: 0.95 }], 'f.json');
  assert.deepEqual(a.points.map((p) => p.size), [100, 200]);
  assert.equal(a.points[1]!.foolingRateVal, 0.7);
  assert.equal(a.points[0]!.foolingRateVal, undefined);
  const b = readSweep({ model: 'm', xi: 10, sizes: [{ size: 50, foolingRateX: 0.5, foolingRateVal: 0.4, accuracyCleanVal: 0.9, passes: 2, v: 'ignored' }] }, 'f.json');
  assert.equal(b.points[0]!.accuracyCleanVal, 0.9);
  assert.deepEqual(b.meta, { model: 'm', xi: '10' });
  assert.throws(() => readSweep({ nothing: 1 }, 'f.json'), badInput);
  assert.throws(() => readSweep([{ foolingRateX: 0.5 }], 'f.json'), badInput);
});

test('transfer: uap transfer’s object (rows/columns objects, foolingRates with null, cells matrix)', () => {
  const m = readTransfer(
    {
      data: 'd',
      rows: [{ label: 'vgg', shape: [1, 1, 3] }, { label: 'res' }],
      columns: [{ label: 'A', modelId: 'a' }, { label: 'B' }],
      foolingRates: [[0.8, null], [0.3, 0.9]],
      cells: [[{ status: 'ok', foolingRate: 0.8 }, { status: 'size-mismatch' }], [{ status: 'ok', foolingRate: 0.3 }, { status: 'ok', foolingRate: 0.9 }]],
    },
    'f.json',
  );
  assert.deepEqual(m.rows, ['vgg', 'res']);
  assert.deepEqual(m.columns, ['A', 'B']);
  assert.equal(m.values[0]![0], 0.8);
  assert.ok(Number.isNaN(m.values[0]![1]!));
  assert.equal(m.values[1]![1], 0.9);
});

test('transfer: a list of entries, and a matrix of cell objects alone', () => {
  const m = readTransfer(
    [
      { perturbation: 'p1', model: 'A', foolingRate: 0.5 },
      { perturbation: 'p1', model: 'B', foolingRate: 0.25 },
      { perturbation: 'p2', model: 'B', foolingRate: 0.75 },
    ],
    'f.json',
  );
  assert.deepEqual(m.rows, ['p1', 'p2']);
  assert.deepEqual(m.columns, ['A', 'B']);
  assert.ok(Number.isNaN(m.values[1]![0]!));
  assert.equal(m.values[1]![1], 0.75);
  const c = readTransfer({ models: ['a'], perturbations: ['x'], cells: [[{ foolingRate: 0.4 }]] }, 'f.json');
  assert.equal(c.values[0]![0], 0.4);
  assert.throws(() => readTransfer({ rows: ['a'], columns: ['b', 'c'], matrix: [[0.1]] }, 'f.json'), badInput);
  assert.throws(() => readTransfer({ rows: ['a'] }, 'f.json'), badInput);
});

test('subspace: numbers or objects for the fooling rates, object or number for the random baseline', () => {
  const s = readSubspace(
    { singularValues: [3, 2, 1], randomSingularValues: [1, 1, 1], foolingRates: [{ dim: 20, foolingRate: 0.4 }, { dim: 10, dimUsed: 10, foolingRate: 0.5 }], randomFoolingRate: { foolingRate: 0.1, samples: [] } },
    'f.json',
  );
  assert.deepEqual(s.foolingRates, [{ dim: 10, foolingRate: 0.5 }, { dim: 20, foolingRate: 0.4 }]);
  assert.equal(s.randomFoolingRate, 0.1);
  const t = readSubspace({ singularValues: [1], foolingRates: [0.3, 0.2], dims: [5, 50], randomFoolingRate: 0.05 }, 'f.json');
  assert.deepEqual(t.foolingRates, [{ dim: 5, foolingRate: 0.3 }, { dim: 50, foolingRate: 0.2 }]);
  assert.equal(t.randomFoolingRate, 0.05);
  assert.throws(() => readSubspace({ singularValues: [] }, 'f.json'), badInput);
});

test('dominant labels: uap labels’ {top}, a bare list, a name → count map; largest first', () => {
  const a = readDominantLabels({ n: 10, top: [{ index: 3, name: 'cat', count: 2, share: 0.2 }, { index: 1, name: 'dog', count: 8, share: 0.8 }] }, 'f.json');
  assert.deepEqual(a.labels.map((l) => l.label), ['dog', 'cat']);
  assert.equal(a.labels[0]!.share, 0.8);
  const b = readDominantLabels({ counts: { x: 1, y: 5 } }, 'f.json');
  assert.deepEqual(b.labels, [{ label: 'y', count: 5 }, { label: 'x', count: 1 }]);
  const c = readDominantLabels([{ index: 7, count: 3 }], 'f.json');
  assert.equal(c.labels[0]!.label, '7');
  assert.throws(() => readDominantLabels([{ label: 'no count' }], 'f.json'), badInput);
});

test('eval and samples', () => {
  const e = readEval({ model: 'm', n: 5, foolingRate: 0.4, accuracyClean: 0.8, accuracyPerturbed: null, clip: false }, 'f.json');
  assert.deepEqual(e, [{ foolingRate: 0.4, accuracyClean: 0.8, n: 5, model: 'm', clip: false }]);
  assert.throws(() => readEval({ accuracyClean: 0.8 }, 'f.json'), badInput);
  const s = readSamples([{ clean: { src: 'data:image/png;base64,AA==', label: 'a' }, perturbed: { src: 'data:image/png;base64,AA==', label: 'b' } }], 'f.json');
  assert.equal(s.samples[0]!.perturbed.label, 'b');
  assert.throws(() => readSamples({ samples: [{ clean: { src: 'http://x/y.png', label: 'a' }, perturbed: { src: 'data:image/png;base64,AA==', label: 'b' } }] }, 'f.json'), badInput);
});
