import assert from 'node:assert/strict';
import { test } from 'node:test';
import { smoothGradient } from './smooth-gradient.js';

const shape = [9, 11, 2] as const;

test('smoothGradient: σ = 0 is the identity; a constant stays constant up to the border; bad input is refused', () => {
  const g = Float32Array.from({ length: 9 * 11 * 2 }, (_, i) => Math.sin(i));
  assert.equal(smoothGradient(g, shape, 0), g);
  const flat = smoothGradient(new Float32Array(9 * 11 * 2).fill(-3), shape, 1.5);
  for (const v of flat) assert.ok(Math.abs(v + 3) < 1e-5, `a constant gradient stays constant (renormalised border): ${v}`);
  assert.throws(() => smoothGradient(g, shape, -1), /≥ 0/);
  assert.throws(() => smoothGradient(g.subarray(1), shape, 1), /values for a 9×11×2 image/);
});

test('smoothGradient: an impulse away from the border becomes the separable Gaussian, in its own channel only, summing to 1', () => {
  const big = [15, 17, 2] as const;
  const at = (y: number, x: number, c: number) => (y * big[1] + x) * big[2] + c;
  const g = new Float32Array(15 * 17 * 2);
  g[at(7, 8, 1)] = 1;
  const sigma = 1;
  const s = smoothGradient(g, big, sigma);
  const k = (t: number) => Math.exp(-(t * t) / (2 * sigma * sigma));
  const z = [-3, -2, -1, 0, 1, 2, 3].reduce((a, t) => a + k(t), 0);
  let sum = 0;
  for (let y = 0; y < 15; y++)
    for (let x = 0; x < 17; x++) {
      assert.equal(s[at(y, x, 0)], 0, 'the other channel untouched');
      const want = Math.abs(y - 7) <= 3 && Math.abs(x - 8) <= 3 ? (k(y - 7) * k(x - 8)) / (z * z) : 0;
      assert.ok(Math.abs(s[at(y, x, 1)]! - want) < 1e-6, `(${y}, ${x}): ${s[at(y, x, 1)]} vs ${want}`);
      sum += s[at(y, x, 1)]!;
    }
  assert.ok(Math.abs(sum - 1) < 1e-5);
  // symmetric in x and y around the impulse
  assert.ok(Math.abs(s[at(6, 8, 1)]! - s[at(7, 7, 1)]!) < 1e-7);
});
