import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resizeCropBox, resizeShorterSide } from './resize-crop.js';

test('shorter side is round(size / 0.875)', () => {
  assert.equal(resizeShorterSide(224), 256);
  assert.equal(resizeShorterSide(160), 183);
  assert.equal(resizeShorterSide(192), 219);
  assert.equal(resizeShorterSide(128), 146);
  assert.equal(resizeShorterSide(28), 32);
});

test('a 256-short-side photo is only centre-cropped for 224 models', () => {
  assert.deepEqual(resizeCropBox(341, 256, 224), {
    resizeWidth: 341, resizeHeight: 256, left: 58, top: 16, width: 224, height: 224,
  });
  assert.deepEqual(resizeCropBox(256, 384, 224), {
    resizeWidth: 256, resizeHeight: 384, left: 16, top: 80, width: 224, height: 224,
  });
});

test('other sizes scale the shorter side and crop the centre', () => {
  const b = resizeCropBox(341, 256, 160);
  assert.equal(b.resizeHeight, 183);
  assert.equal(b.resizeWidth, Math.round((341 * 183) / 256));
  assert.equal(b.left, Math.floor((b.resizeWidth - 160) / 2));
  assert.equal(b.top, 11);
  // Square input, larger output: upsampled.
  assert.deepEqual(resizeCropBox(100, 100, 224), {
    resizeWidth: 256, resizeHeight: 256, left: 16, top: 16, width: 224, height: 224,
  });
  // Crop fraction 1: shorter side = output size.
  assert.deepEqual(resizeCropBox(50, 28, 28, 28, 1), {
    resizeWidth: 50, resizeHeight: 28, left: 11, top: 0, width: 28, height: 28,
  });
  // An extreme aspect ratio never rounds the long side below the crop.
  const thin = resizeCropBox(1000, 999, 224);
  assert.ok(thin.resizeWidth >= 224 && thin.resizeHeight >= 224);
});

test('bad sizes are refused', () => {
  assert.throws(() => resizeCropBox(0, 10, 224), RangeError);
  assert.throws(() => resizeCropBox(10, 10, 224, 224, 0), RangeError);
});
