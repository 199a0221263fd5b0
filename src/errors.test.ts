import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UapError } from './errors.js';

test('control characters in an error are shown escaped, so the one line a user reads is whole', () => {
  const e = new UapError('SECURITY', 'weight path w\u0000.bin\u001b[31m leaves the model folder', 'dir\nname');
  assert.equal(e.message, 'dir\\x0aname: weight path w\\0.bin\\x1b[31m leaves the model folder');
  assert.equal(e.detail, 'weight path w\\0.bin\\x1b[31m leaves the model folder');
  assert.equal(e.input, 'dir\nname', 'the input itself is kept as given');
  assert.equal(new UapError('BAD_INPUT', 'two\nlines').message, 'two\nlines', 'newlines in messages stay (the CLI prints the first line)');
});
