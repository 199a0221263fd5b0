import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../tensor/backend.js';
import { createRng } from '../util/rng.js';
import { augmentImages, checkAugment, drawsPerImage, isIdentity } from './augment.js';

describe('augmentImages', () => {
  let x: tf.Tensor4D;
  before(async () => {
    await initBackend('wasm');
    x = tf.tidy(() => tf.randomUniform([4, 8, 8, 3], 0, 255, 'float32', 7) as tf.Tensor4D);
  });

  it('without options returns the images unchanged', async () => {
    const y = augmentImages(x, {}, createRng(1));
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!) < 1e-3);
    assert.ok(isIdentity({}) && !isIdentity({ flip: true }) && !isIdentity({ minScale: 0.8 }));
    y.dispose();
  });

  it('flip mirrors each image left–right or leaves it, and draws differ between images', async () => {
    const y = augmentImages(x, { flip: true }, createRng(2));
    const mirrored = tf.reverse(x, 2);
    const kinds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const yi = y.slice([i], [1]);
      const same = tf.tidy(() => tf.max(tf.abs(tf.sub(yi, x.slice([i], [1])))).dataSync()[0]!);
      const flipped = tf.tidy(() => tf.max(tf.abs(tf.sub(yi, mirrored.slice([i], [1])))).dataSync()[0]!);
      assert.ok(same < 1e-3 || flipped < 1e-3, `image ${i} is neither itself nor its mirror`);
      kinds.push(same < 1e-3 ? 'same' : 'flipped');
      yi.dispose();
    }
    const again = augmentImages(x, { flip: true }, createRng(2));
    assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(y, again))).dataSync()[0]!), 0, 'same seed, same draws');
    tf.dispose([y, mirrored, again]);
    assert.equal(new Set(kinds).size, 2, `this seed mirrors some images and not others: ${kinds.join()}`);
  });

  it('crops zoom in: a constant image stays constant, a gradient image keeps its range inside the original', async () => {
    const ramp = tf.tidy(() => tf.tile(tf.reshape(tf.linspace(0, 255, 8), [1, 1, 8, 1]), [2, 8, 1, 3]) as tf.Tensor4D);
    const y = augmentImages(ramp, { minScale: 0.5 }, createRng(5));
    const row = (await y.slice([0, 0, 0, 0], [1, 1, 8, 1]).data()) as Float32Array;
    assert.ok(row[0]! >= -1e-3 && row[7]! <= 255 + 1e-3);
    assert.ok(row[7]! - row[0]! < 255 - 1e-3, 'a crop of a ramp spans less than the full ramp');
    for (let k = 1; k < 8; k++) assert.ok(row[k]! >= row[k - 1]! - 1e-3, 'still increasing');
    tf.dispose([ramp, y]);
  });

  it('rejects a scale outside (0, 1]', () => {
    assert.throws(() => checkAugment({ minScale: 0 }), /minScale/);
    assert.throws(() => checkAugment({ minScale: 1.5 }), /minScale/);
  });

  /** A generator that counts its draws. */
  const counting = (seed: number) => {
    const rng = createRng(seed);
    const f = Object.assign(() => (f.calls++, rng()), { calls: 0 });
    return f;
  };

  it('resize: same shape and range, blurs fine detail (more at a smaller scale), leaves a constant image alone, is seeded', async () => {
    // A checkerboard: the finest detail an image can hold; a resolution of s < 1 cannot keep it.
    const board = tf.tidy(() => tf.tile(tf.reshape(tf.tensor1d(Array.from({ length: 64 }, (_, k) => (((k >> 3) + k) % 2) * 200 + 20)), [1, 8, 8, 1]), [2, 1, 1, 3]) as tf.Tensor4D);
    const rng = counting(3);
    const y = augmentImages(board, { resize: [0.5, 0.5] }, rng);
    assert.deepEqual(y.shape, board.shape);
    assert.equal(rng.calls, 2 * drawsPerImage({ resize: [0.5, 0.5] }), 'the draws it says it takes');
    const d = (await y.data()) as Float32Array;
    for (const p of d) assert.ok(p >= 20 - 1e-3 && p <= 220 + 1e-3, `a resize stays inside the image's range: ${p}`);
    const spread = (t: tf.Tensor) => tf.tidy(() => tf.sub(tf.max(t), tf.min(t)).dataSync()[0]!);
    assert.ok(spread(y) < 0.5 * 200, `a half-resolution checkerboard is mostly grey: spread ${spread(y)}`);
    const mild = augmentImages(board, { resize: [0.9, 0.9] }, createRng(3));
    const err = (t: tf.Tensor) => tf.tidy(() => tf.mean(tf.abs(tf.sub(t, board))).dataSync()[0]!);
    assert.ok(err(mild) < err(y), `0.9× loses less than 0.5× (${err(mild)} vs ${err(y)})`);
    const flat = tf.fill([1, 8, 8, 3], 77) as tf.Tensor4D;
    const f = augmentImages(flat, { resize: [0.5, 1.5] }, createRng(4));
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(f, 77))).dataSync()[0]!) < 1e-3, 'a constant image stays constant');
    const again = [augmentImages(board, { resize: [0.4, 1.5] }, createRng(9)), augmentImages(board, { resize: [0.4, 1.5] }, createRng(9))];
    assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(again[0]!, again[1]!))).dataSync()[0]!), 0, 'same seed, same scales');
    tf.dispose([board, y, mild, flat, f, ...again]);
  });

  it('noise: adds zero-mean noise of standard deviation σ, clipped to 0..255, seeded, one draw per image', async () => {
    const grey = tf.fill([2, 16, 16, 3], 128) as tf.Tensor4D;
    const rng = counting(5);
    const y = augmentImages(grey, { noise: 6 }, rng);
    assert.equal(rng.calls, 2 * 5, '4 view draws and one noise seed per image');
    assert.equal(drawsPerImage({ noise: 6 }), 5);
    const d = (await tf.sub(y, grey).data()) as Float32Array;
    const mean = d.reduce((s, a) => s + a, 0) / d.length;
    const std = Math.sqrt(d.reduce((s, a) => s + (a - mean) ** 2, 0) / d.length);
    assert.ok(Math.abs(mean) < 0.5 && Math.abs(std - 6) < 0.4, `mean ${mean}, std ${std}`);
    const halves = [d.subarray(0, d.length / 2), d.subarray(d.length / 2)];
    assert.notDeepEqual(Array.from(halves[0]!.subarray(0, 8)), Array.from(halves[1]!.subarray(0, 8)), 'each image has its own noise');
    const white = tf.fill([1, 8, 8, 3], 254) as tf.Tensor4D;
    const w = (await augmentImages(white, { noise: 30 }, createRng(1)).data()) as Float32Array;
    assert.ok(Math.max(...w) <= 255 && Math.min(...w) >= 0 && Math.max(...w) === 255, 'clipped to the pixel range');
    const a = augmentImages(grey, { noise: 6 }, createRng(5));
    assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(a, y))).dataSync()[0]!), 0, 'same seed, same noise');
    tf.dispose([grey, y, white, a]);
  });

  it('drawsPerImage counts what augmentImages (and the jpeg re-encoding) draw', () => {
    assert.equal(drawsPerImage(undefined), 0);
    assert.equal(drawsPerImage({}), 0);
    assert.equal(drawsPerImage({ jpeg: [50, 95] }), 1, 'jpeg alone: no views, one quality');
    assert.equal(drawsPerImage({ flip: true, minScale: 0.8 }), 4);
    assert.equal(drawsPerImage({ flip: true, resize: [0.5, 1.5], noise: 4, jpeg: [50, 95] }), 7);
    for (const a of [{ flip: true }, { minScale: 0.7, resize: [0.6, 1] as const }, { noise: 2, flip: true }]) {
      const rng = counting(1);
      augmentImages(x, a, rng).dispose();
      assert.equal(rng.calls, 4 * drawsPerImage(a), JSON.stringify(a));
    }
    assert.ok(!isIdentity({ resize: [1, 1] }) && !isIdentity({ noise: 1 }) && isIdentity({ jpeg: [50, 60] }));
  });

  it('shift: whole-pixel windows of the model\'s size from the wider photo, anywhere in it, not only its centre', async () => {
    // Wide photos whose pixel value encodes its position, so that a window tells where it was cut.
    const [n, H, W, h, w] = [16, 12, 10, 8, 6];
    const data = new Float32Array(n * H * W * 3);
    for (let i = 0; i < n; i++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) data[((i * H + y) * W + x) * 3 + c] = y * 16 + x + c * 0.25;
    const wide = tf.tensor4d(data, [n, H, W, 3]);
    const rng = counting(11);
    const y = augmentImages(wide, { shift: true }, rng, [h, w]);
    assert.deepEqual(y.shape, [n, h, w, 3]);
    assert.equal(rng.calls, n * drawsPerImage({ shift: true }), 'the same 4 draws per image as a crop');
    const out = (await y.data()) as Float32Array;
    const offsets = new Set<string>();
    for (let i = 0; i < n; i++) {
      const at = (yy: number, xx: number, c: number) => out[((i * h + yy) * w + xx) * 3 + c]!;
      const top = Math.floor(at(0, 0, 0) / 16);
      const left = at(0, 0, 0) - top * 16;
      assert.ok(Number.isInteger(left) && top >= 0 && top <= H - h && left >= 0 && left <= W - w, `image ${i}: window at ${top},${left} inside the photo`);
      for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) assert.ok(Math.abs(at(yy, xx, 1) - ((top + yy) * 16 + left + xx + 0.25)) < 1e-3, `image ${i}: the photo's own pixels, not resampled`);
      offsets.add(`${top},${left}`);
    }
    assert.ok(offsets.size >= 6, `windows at many places: ${[...offsets].join(' ')}`);
    assert.ok([...offsets].some((o) => o !== '2,2'), 'not only the centre');
    // with crops too: zoomed windows stay inside the photo (no zero padding from cropAndResize)
    const z = (await augmentImages(wide, { shift: true, minScale: 0.5, flip: true }, createRng(3), [h, w]).data()) as Float32Array;
    const green = Array.from(z).filter((_, k) => k % 3 === 1); // ≥ 0.25 inside the photo; cropAndResize pads with 0
    assert.ok(Math.min(...green) >= 0.25 - 1e-3 && Math.max(...z) <= (H - 1) * 16 + W - 1 + 0.5, `min ${Math.min(...green)}`);
    assert.ok(!isIdentity({ shift: true }));
    assert.throws(() => augmentImages(wide, { shift: true }, createRng(1), [H + 1, w]), /at least/);
    tf.dispose([wide, y]);
  });

  it('rotate: a rotation about the centre, zoomed so that every output pixel reads inside the photo; 1 draw per image', async () => {
    const [n, h, w] = [6, 21, 21];
    // value = 100·y + x: a bilinear read of a point is that point's 100·y + x, so the output says where it read
    const data = Float32Array.from({ length: n * h * w }, (_, k) => 100 * Math.floor((k % (h * w)) / w) + (k % w));
    const ramp = tf.tensor4d(data, [n, h, w, 1]);
    const rng = counting(4);
    const y = (await augmentImages(ramp, { rotate: 30 }, rng).data()) as Float32Array;
    assert.equal(rng.calls, n * drawsPerImage({ rotate: 30 }));
    assert.equal(drawsPerImage({ rotate: 30 }), 5);
    const draws = createRng(4);
    const c = (w - 1) / 2;
    const angles: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 4; k++) draws();
      const theta = ((2 * draws() - 1) * 30 * Math.PI) / 180;
      angles.push(theta);
      const z = Math.abs(Math.cos(theta)) + Math.abs(Math.sin(theta));
      for (const [oy, ox] of [[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1], [10, 10], [3, 17]] as const) {
        const ix = c + (Math.cos(theta) * (ox - c) - Math.sin(theta) * (oy - c)) / z;
        const iy = c + (Math.sin(theta) * (ox - c) + Math.cos(theta) * (oy - c)) / z;
        assert.ok(ix >= -1e-9 && ix <= w - 1 + 1e-9 && iy >= -1e-9 && iy <= h - 1 + 1e-9, 'the corners read inside the photo');
        assert.ok(Math.abs(y[(i * h + oy) * w + ox]! - (100 * iy + ix)) < 1e-2 * 100, `image ${i} (${oy}, ${ox}): ${y[(i * h + oy) * w + ox]} vs ${100 * iy + ix}`);
      }
    }
    assert.ok(Math.max(...angles.map(Math.abs)) > 0.1, 'real rotations were drawn');
    ramp.dispose();
  });

  it('color: brightness, contrast and saturation jitter, clipped, 3 draws per image; a grey image keeps its greys', async () => {
    const photo = tf.tidy(() => tf.randomUniform([8, 6, 6, 3], 40, 200, 'float32', 3) as tf.Tensor4D);
    const rng = counting(8);
    const y = augmentImages(photo, { color: 0.3 }, rng);
    assert.equal(rng.calls, 8 * drawsPerImage({ color: 0.3 }));
    assert.equal(drawsPerImage({ color: 0.3 }), 7);
    const d = (await y.data()) as Float32Array;
    assert.ok(Math.min(...d) >= 0 && Math.max(...d) <= 255);
    const means = tf.tidy(() => Array.from(tf.mean(tf.div(tf.mean(y, [1, 2, 3]), tf.mean(photo, [1, 2, 3]))).dataSync()));
    const ratio = tf.tidy(() => Array.from(tf.div(tf.mean(y, [1, 2, 3]), tf.mean(photo, [1, 2, 3])).dataSync()));
    assert.ok(ratio.every((r) => r > 0.65 && r < 1.35) && new Set(ratio.map((r) => r.toFixed(3))).size > 4, `brightness varies within ±30%: ${ratio}, ${means}`);
    const grey = tf.tidy(() => tf.tile(tf.randomUniform([2, 6, 6, 1], 50, 200, 'float32', 5), [1, 1, 1, 3]) as tf.Tensor4D);
    const g = (await augmentImages(grey, { color: 0.3 }, createRng(2)).data()) as Float32Array;
    for (let k = 0; k < g.length; k += 3) assert.ok(Math.abs(g[k]! - g[k + 1]!) < 1e-3 && Math.abs(g[k]! - g[k + 2]!) < 1e-3, 'grey stays grey');
    assert.throws(() => checkAugment({ color: 1 }), /colour jitter/);
    assert.throws(() => checkAugment({ rotate: 50 }), /largest rotation/);
    tf.dispose([photo, y, grey]);
  });

  it('rejects bad resize and noise values', () => {
    assert.throws(() => checkAugment({ resize: [0, 1] }), /resize scales/);
    assert.throws(() => checkAugment({ resize: [1.5, 1] }), /resize scales/);
    assert.throws(() => checkAugment({ noise: 0 }), /noise σ/);
    assert.throws(() => checkAugment({ noise: Number.NaN }), /noise σ/);
  });
});
