import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyPerturbationToPhoto } from './apply-perturbation.js';
import { resizeCropPixels } from './resample.js';

test('a constant v adds its value everywhere, clipped; the photo keeps its size', () => {
  const photo = { data: new Uint8Array(50 * 30 * 3).fill(250), width: 50, height: 30, channels: 3 };
  const v = new Float32Array(8 * 8 * 3).fill(-10);
  const out = applyPerturbationToPhoto(photo, v, [8, 8, 3]);
  assert.equal(out.width, 50);
  assert.equal(out.height, 30);
  assert.ok(out.data.every((x, i) => x === (i % 4 === 3 ? 255 : 240)));
  assert.ok(applyPerturbationToPhoto(photo, new Float32Array(64 * 3).fill(10), [8, 8, 3]).data.every((x) => x === 255));
});

test('at exactly the model geometry (no resize) the crop region gets v itself, and resizing back gives clip(x + v)', () => {
  // 10×8 photo, 8×8 model with crop fraction 1: scale 1, crop columns 1..8
  const photo = { data: new Uint8Array(10 * 8 * 3).fill(100), width: 10, height: 8, channels: 3 };
  const v = Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => (i % 7) - 3);
  const out = applyPerturbationToPhoto(photo, v, [8, 8, 3], { cropFraction: 1 });
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) for (let k = 0; k < 3; k++) {
    assert.equal(out.data[(y * 10 + x + 1) * 4 + k], 100 + v[(y * 8 + x) * 3 + k]!);
  }
  // outside the crop v repeats: column 0 carries v's last column
  assert.equal(out.data[0], 100 + v[7 * 3]!);
  const back = resizeCropPixels({ ...out, channels: 4 }, [8, 8, 3], 1);
  assert.deepEqual([...back], Array.from(v, (d) => 100 + d));
});

test('on a larger photo the model sees ≈ v again; refining (here with room: limit 10 for a ±6 v) gets much closer than the plain rescale', () => {
  const photo = { data: new Uint8Array(70 * 70 * 3).fill(128), width: 70, height: 70, channels: 3 };
  // fine detail (a checkerboard of 2×2 squares) is what the plain rescale loses to the model’s resize
  const v = Float32Array.from({ length: 16 * 16 * 3 }, (_, i) => ((Math.floor(i / 3 / 32) + Math.floor((Math.floor(i / 3) % 16) / 2)) % 2 ? 6 : -6));
  const seenError = (refine: number) => {
    const out = applyPerturbationToPhoto(photo, v, [16, 16, 3], { refine, limit: 10 });
    for (let i = 0; i < out.data.length; i++) if (i % 4 !== 3) assert.ok(Math.abs(out.data[i]! - 128) <= 10, 'no pixel moves more than the limit');
    const back = resizeCropPixels({ ...out, channels: 4 }, [16, 16, 3]);
    let err = 0;
    for (let i = 0; i < back.length; i++) err += Math.abs(back[i]! - (128 + v[i]!));
    return err / back.length;
  };
  const plain = seenError(0);
  const refined = seenError(4);
  assert.ok(refined < plain / 2, `mean error of the model's view: ${refined.toFixed(2)} refined vs ${plain.toFixed(2)} plain`);
  assert.ok(refined < 1.5, `refined mean error ${refined.toFixed(2)}`);
});

test('limit caps the change of every photo pixel', () => {
  const photo = { data: new Uint8Array(40 * 40 * 3).fill(100), width: 40, height: 40, channels: 3 };
  const v = Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => (i % 2 ? 20 : -20));
  const out = applyPerturbationToPhoto(photo, v, [8, 8, 3], { limit: 5 });
  for (let i = 0; i < out.data.length; i++) if (i % 4 !== 3) assert.ok(Math.abs(out.data[i]! - 100) <= 5);
});
