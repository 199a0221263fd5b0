import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { PRIOR_DEFAULTS, priorBatch, priorImage, priorSource, resolvePrior, type PriorOptions } from './priors.js';

await tf.setBackend('cpu');

const SHAPE = [24, 32, 3] as const;
const gaussian: PriorOptions = { kind: 'gaussian', n: 6, shape: SHAPE, seed: 5 };
const jigsaw: PriorOptions = { kind: 'jigsaw', n: 6, shape: SHAPE, seed: 5 };

function stats(x: Float32Array): { min: number; max: number; mean: number; std: number } {
  let min = Infinity;
  let max = -Infinity;
  let s = 0;
  let s2 = 0;
  for (const a of x) {
    min = Math.min(min, a);
    max = Math.max(max, a);
    s += a;
    s2 += a * a;
  }
  const mean = s / x.length;
  return { min, max, mean, std: Math.sqrt(s2 / x.length - mean * mean) };
}

test('seeded: the same options give the same pixels; another seed others; image i does not depend on n or on the order asked', async () => {
  for (const o of [gaussian, jigsaw]) {
    const a = priorBatch(o);
    assert.deepEqual(priorBatch(o).images, a.images);
    assert.notDeepEqual(priorBatch({ ...o, seed: 6 }).images, a.images);
    const size = SHAPE[0] * SHAPE[1] * SHAPE[2];
    assert.deepEqual(priorImage({ ...o, n: 100 }, 3), a.images.subarray(3 * size, 4 * size));
    const t = await priorSource(o).get(Int32Array.of(4, 1));
    const got = (await t.data()) as Float32Array;
    t.dispose();
    assert.deepEqual(got.subarray(0, size), priorImage(o, 4));
    assert.deepEqual(got.subarray(size), priorImage(o, 1));
    assert.notDeepEqual(priorImage(o, 0), priorImage(o, 1), 'images differ from each other');
  }
});

test('shape, range and labels: n images of the given H×W×C in 0..255, labels −1 (none), names prior:KIND#i', () => {
  for (const o of [gaussian, jigsaw]) {
    const b = priorBatch(o);
    assert.equal(b.n, 6);
    assert.deepEqual(b.shape, [...SHAPE]);
    assert.equal(b.images.length, 6 * SHAPE[0] * SHAPE[1] * SHAPE[2]);
    assert.deepEqual(b.labels, new Int32Array(6).fill(-1));
    assert.equal(b.names[2], `prior:${o.kind}#2`);
    const s = stats(b.images);
    assert.ok(s.min >= 0 && s.max <= 255 && Number.isFinite(s.mean), `${o.kind}: ${JSON.stringify(s)}`);
    assert.ok(s.min === 0 || s.max === 255, `${o.kind}: clipped at the ends of the range`);
  }
  // Gaussian: mean 128, σ 40 by default (clipping at ±3.2σ barely changes them).
  const g = stats(priorBatch({ ...gaussian, n: 20 }).images);
  assert.ok(Math.abs(g.mean - PRIOR_DEFAULTS.gaussian.mean) < 1, `mean ${g.mean}`);
  assert.ok(Math.abs(g.std - PRIOR_DEFAULTS.gaussian.sigma) < 1, `std ${g.std}`);
  const wide = stats(priorBatch({ ...gaussian, sigma: 10, mean: 60 }).images);
  assert.ok(Math.abs(wide.mean - 60) < 0.5 && Math.abs(wide.std - 10) < 0.5);
});

test('jigsaw: without noise and blobs every tile is one flat colour, on a g×g grid with g in minTiles..maxTiles', () => {
  const [h, w, c] = SHAPE;
  for (let i = 0; i < 6; i++) {
    const img = priorImage({ ...jigsaw, sigma: 0, blob: 0, minTiles: 3, maxTiles: 3 }, i);
    const colours = new Set<string>();
    for (let ty = 0; ty < 3; ty++) {
      for (let tx = 0; tx < 3; tx++) {
        const px = (y: number, x: number) => Array.from(img.subarray((y * w + x) * c, (y * w + x + 1) * c)).join();
        const y0 = (ty * h) / 3;
        const x0 = Math.floor((tx * w) / 3);
        const x1 = Math.floor(((tx + 1) * w) / 3) - 1;
        assert.equal(px(y0, x0), px(y0 + h / 3 - 1, x1), 'flat tile');
        colours.add(px(y0, x0));
      }
    }
    assert.equal(colours.size, 9, 'nine tiles of their own colour');
  }
  // With blobs and noise the tiles are textured but still differ in colour more than within.
  const img = priorImage(jigsaw, 0);
  assert.ok(stats(img).std > 20);
});

test('bad settings are refused, naming the option', () => {
  const bad = (option: string) => (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && e.option === option;
  assert.throws(() => resolvePrior({ ...gaussian, n: 0 }), bad('n'));
  assert.throws(() => resolvePrior({ ...gaussian, kind: 'uniform' as 'gaussian' }), bad('kind'));
  assert.throws(() => resolvePrior({ ...gaussian, sigma: -1 }), bad('sigma'));
  assert.throws(() => resolvePrior({ ...jigsaw, minTiles: 5, maxTiles: 2 }), bad('minTiles'));
  assert.throws(() => resolvePrior({ ...jigsaw, shape: [4, 4] as unknown as [number, number, number] }), bad('shape'));
  assert.throws(() => priorImage(gaussian, 6), RangeError);
});
