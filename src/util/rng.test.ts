import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng, gaussian, gaussianArray, permutation, randomInt, randomSigns, shuffle } from './rng.js';

test('createRng is deterministic and seeds differ', () => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const xa = Array.from({ length: 5 }, () => a());
  const xb = Array.from({ length: 5 }, () => b());
  const xc = Array.from({ length: 5 }, () => c());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  for (const x of xa) assert.ok(x >= 0 && x < 1);
  // Pinned values: a change of algorithm would silently change every seeded run.
  const r0 = createRng(0);
  assert.deepEqual([r0(), r0(), r0()], [0.6370551257859915, 0.6305439691059291, 0.21967313019558787]);
  assert.equal(createRng(12345)(), 0.3225276619195938);
  assert.notEqual(createRng(2 ** 32)(), createRng(0)());
});

test('createRng output is roughly uniform', () => {
  const r = createRng(1);
  const bins = new Array(10).fill(0);
  for (let i = 0; i < 100000; i++) bins[Math.floor(r() * 10)]++;
  for (const b of bins) assert.ok(Math.abs(b - 10000) < 500, `bin ${b}`);
  const ints = new Set(Array.from({ length: 200 }, () => randomInt(r, 5)));
  assert.deepEqual([...ints].sort(), [0, 1, 2, 3, 4]);
});

test('shuffle is a deterministic permutation', () => {
  const a = shuffle(Array.from({ length: 50 }, (_, i) => i), createRng(7));
  const b = shuffle(Array.from({ length: 50 }, (_, i) => i), createRng(7));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  const p = permutation(50, createRng(7));
  assert.deepEqual(Array.from(p), a);
  assert.deepEqual(shuffle([], createRng(1)), []);
});

test('randomSigns are ±1, balanced', () => {
  const s = randomSigns(10000, createRng(3));
  let sum = 0;
  for (const v of s) {
    assert.ok(v === 1 || v === -1);
    sum += v;
  }
  assert.ok(Math.abs(sum) < 400);
});

test('gaussian has mean 0 and variance 1', () => {
  const g = gaussianArray(20001, createRng(5), 2, 3);
  let m = 0;
  for (const v of g) m += v;
  m /= g.length;
  let v2 = 0;
  for (const v of g) v2 += (v - m) ** 2;
  v2 /= g.length;
  assert.ok(Math.abs(m - 2) < 0.1, `mean ${m}`);
  assert.ok(Math.abs(Math.sqrt(v2) - 3) < 0.1, `std ${Math.sqrt(v2)}`);
  const r = createRng(9);
  const xs = Array.from({ length: 5000 }, () => gaussian(r));
  assert.ok(xs.every(Number.isFinite));
  assert.ok(Math.abs(xs.reduce((a, b) => a + b, 0) / xs.length) < 0.1);
});
