import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { axisPadding } from './conv_util.js';

describe('axisPadding (TF geometry)', () => {
  it("'same': output ceil(in / stride), the odd pixel of padding goes at the end", () => {
    // 112 → 56 with a 3×3 filter, stride 2: total padding 1, all of it after
    assert.deepEqual(axisPadding(112, 3, 2, 1, 'same', 0), { before: 0, out: 56 });
    // 7 → 4 with 3×3 stride 2: total padding 2, one before
    assert.deepEqual(axisPadding(7, 3, 2, 1, 'same', 0), { before: 1, out: 4 });
    // 8 → 4 with 4×4 stride 2: total padding 2, one before
    assert.deepEqual(axisPadding(8, 4, 2, 1, 'same', 0), { before: 1, out: 4 });
    // dilation 2 makes a 3-tap filter span 5
    assert.deepEqual(axisPadding(9, 3, 1, 2, 'same', 1), { before: 2, out: 9 });
  });
  it("'valid', numeric and explicit padding", () => {
    assert.deepEqual(axisPadding(11, 5, 2, 1, 'valid', 0), { before: 0, out: 4 });
    assert.deepEqual(axisPadding(7, 3, 2, 1, 1, 0), { before: 1, out: 4 });
    assert.deepEqual(axisPadding(6, 3, 2, 1, [[1, 0], [0, 2]], 1), { before: 0, out: 3 });
    assert.deepEqual(axisPadding(6, 3, 2, 1, [[1, 0], [0, 2]], 0), { before: 1, out: 3 });
  });
});
