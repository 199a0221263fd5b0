import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUGMENT_DEFAULTS } from '../data/augment.js';
import { UapError } from '../index.js';
import { augment, parseSgdOptions, sgdFlagDefaults } from './options.js';

test('--augment parses every view, with their defaults, and refuses bad values naming the flag', () => {
  assert.deepEqual(augment('--augment', 'flip,crop:0.7,resize:0.6-1.2,noise:3,jpeg:60-90'), { flip: true, minScale: 0.7, resize: [0.6, 1.2], noise: 3, jpeg: [60, 90] });
  assert.deepEqual(augment('--augment', 'resize,noise'), { resize: [0.5, 1.5], noise: 4 });
  // The flag's defaults are the library's.
  const d = augment('--augment', 'crop,resize,noise,jpeg');
  assert.deepEqual([d.minScale, d.resize, d.noise, d.jpeg], [AUGMENT_DEFAULTS.crop, AUGMENT_DEFAULTS.resize, AUGMENT_DEFAULTS.noise, AUGMENT_DEFAULTS.jpeg]);
  assert.deepEqual(augment('--augment', 'none'), {});
  assert.deepEqual(augment('--augment', 'flip,shift,rotate,color'), { flip: true, shift: true, rotate: AUGMENT_DEFAULTS.rotate, color: AUGMENT_DEFAULTS.color });
  assert.deepEqual(augment('--augment', 'rotate:5,color:0.1'), { rotate: 5, color: 0.1 });
  const refused = (value: string, message: RegExp) => {
    assert.throws(
      () => parseSgdOptions({ ...sgdFlagDefaults(), augment: value }, { norm: 'inf', xi: 10 }),
      (e: unknown) => e instanceof UapError && e.input === '--augment' && message.test(e.message) && !e.message.includes('\n'),
      value,
    );
  };
  refused('resize:2-1', /resize scales must be 0 < lo ≤ hi ≤ 4/);
  refused('resize:abc', /resize takes a range LO-HI/);
  refused('noise:0', /noise σ must be a finite number > 0/);
  refused('noise:x', /not a number/);
  refused('noise:1:2', /one value per view/);
  refused('blur', /expected a comma-separated list of flip, crop\[:SCALE\], shift, rotate\[:DEG\], color\[:S\], resize\[:LO-HI\], noise\[:SIGMA\]/);
  refused('shift:2', /expected a comma-separated list/);
  refused('rotate:60', /largest rotation must be in \(0, 45\] degrees/);
  refused('color:1.5', /colour jitter must be in \(0, 1\)/);
});
