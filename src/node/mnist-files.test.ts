import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIdxImages } from '../data/mnist.js';
import { loadMnist } from './mnist-files.js';

test('MNIST test split has the real 10,000 digits with all ten labels', async () => {
  const m = await loadMnist('test');
  assert.equal(m.n, 10000);
  assert.equal(m.images.length, 10000 * 28 * 28);
  const counts = new Array(10).fill(0);
  for (const l of m.labels) counts[l]++;
  assert.ok(counts.every((c) => c > 800 && c < 1200), `label counts ${counts}`);
  let max = 0;
  for (const p of m.images.subarray(0, 784)) max = Math.max(max, p);
  assert.equal(max, 255);
});

test('a file that is not IDX is refused with its name', () => {
  assert.throws(() => parseIdxImages(new TextEncoder().encode('hello world, not idx'), 'x.idx'), /x\.idx: not an IDX/);
});
