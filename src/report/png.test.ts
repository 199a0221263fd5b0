import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import type { Image8 } from '../io/perturbation-image.js';
import { dataUriBytes, encodePngPortable, pngDataUri } from './png.js';

function image(width: number, height: number, channels: 1 | 3 | 4, seed: number): Image8 {
  const data = new Uint8ClampedArray(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // Half smooth ramps, half noise: every filter type gets chosen somewhere.
    data[i] = i % 7 < 4 ? (i * 3) & 0xff : s >>> 24;
  }
  return { data, width, height, channels };
}

/** Decodes with pngjs (an independent decoder) to RGBA. */
function decode(bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const png = PNG.sync.read(Buffer.from(bytes));
  return { width: png.width, height: png.height, rgba: new Uint8Array(png.data) };
}

function toRgba(im: Image8): Uint8Array {
  const out = new Uint8Array(im.width * im.height * 4);
  for (let p = 0; p < im.width * im.height; p++) {
    for (let k = 0; k < 3; k++) out[p * 4 + k] = im.data[p * im.channels + (im.channels === 1 ? 0 : k)]!;
    out[p * 4 + 3] = im.channels === 4 ? im.data[p * 4 + 3]! : 255;
  }
  return out;
}

for (const channels of [1, 3, 4] as const) {
  test(`PNG round trip through an independent decoder, ${channels} channel(s)`, async () => {
    const im = image(37, 23, channels, channels);
    const d = decode(await encodePngPortable(im));
    assert.equal(d.width, 37);
    assert.equal(d.height, 23);
    assert.deepEqual(d.rgba, toRgba(im));
  });
}

test('without CompressionStream the encoder falls back to stored blocks, still a valid PNG (and > 64 KiB works)', async () => {
  const saved = globalThis.CompressionStream;
  // @ts-expect-error simulate an environment without CompressionStream
  delete globalThis.CompressionStream;
  try {
    const im = image(200, 120, 3, 9); // 72 000 bytes of pixels: more than one stored block
    const bytes = await encodePngPortable(im);
    assert.ok(bytes.length > im.data.length, 'stored, not compressed');
    assert.deepEqual(decode(bytes).rgba, toRgba(im));
  } finally {
    globalThis.CompressionStream = saved;
  }
});

test('data URIs carry the PNG bytes; a bad size is refused', async () => {
  const im = image(4, 4, 3, 1);
  const uri = await pngDataUri(im);
  assert.match(uri, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
  assert.deepEqual(dataUriBytes(uri), await encodePngPortable(im));
  await assert.rejects(encodePngPortable({ ...im, width: 5 }), RangeError);
});
