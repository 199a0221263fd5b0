import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resizeCropPixels } from './resample.js';

const rgb = (width: number, height: number, f: (x: number, y: number) => [number, number, number]) => {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 3);
  return { data, width, height, channels: 3 };
};

test('no resampling when the shorter side is already size/0.875: the exact centre crop', () => {
  const im = rgb(10, 8, (x, y) => [x, y, 7]);
  // 8 → 8 (cropFraction 1 for a 8×8 output), width 10 → crop columns 1..8
  const out = resizeCropPixels(im, [8, 8, 3], 1);
  assert.deepEqual([...out.subarray(0, 3)], [1, 0, 7]);
  assert.deepEqual([...out.subarray(out.length - 3)], [8, 7, 7]);
});

test('halving averages with the widened triangle (1/8, 3/8, 3/8, 1/8): stripes of 0 and 254 become 127', () => {
  const im = rgb(16, 16, (x) => (x % 2 ? [254, 254, 254] : [0, 0, 0]));
  const out = resizeCropPixels(im, [8, 8, 3], 1);
  // away from the borders every output covers two black and two white columns with equal total weight
  for (let y = 0; y < 8; y++) for (let x = 1; x < 7; x++) assert.equal(out[(y * 8 + x) * 3], 127, `at ${x},${y}`);
});

test('a constant photo stays constant at any size; luminance for one channel; grey sources repeat', () => {
  const im = rgb(37, 23, () => [200, 100, 50]);
  const out = resizeCropPixels(im, [16, 16, 3]);
  assert.ok(out.every((v, i) => v === [200, 100, 50][i % 3]));
  const grey = resizeCropPixels(im, [5, 5, 1]);
  assert.ok(grey.every((v) => v === Math.round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)));
  const g = resizeCropPixels({ data: new Uint8Array(9 * 9 * 2).fill(90), width: 9, height: 9, channels: 2 }, [4, 4, 3]);
  assert.ok(g.every((v) => v === 90));
});

test('RGBA input (a canvas) gives the same pixels as its RGB', () => {
  const im = rgb(31, 19, (x, y) => [(x * 37) % 256, (y * 53) % 256, (x * y) % 256]);
  const rgba = new Uint8ClampedArray(31 * 19 * 4);
  for (let p = 0; p < 31 * 19; p++) rgba.set([...im.data.subarray(p * 3, p * 3 + 3), 255], p * 4);
  assert.deepEqual(resizeCropPixels({ data: rgba, width: 31, height: 19, channels: 4 }, [12, 12, 3]), resizeCropPixels(im, [12, 12, 3]));
});
