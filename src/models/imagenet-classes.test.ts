import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { imagenetLabels } from './imagenet-classes.js';
import { findClass, parseSynsetWords } from './labels.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const synset = path.join(process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared'), 'imagenet-sample/synset_words.txt');

test('imagenetLabels: 1000 sorted wnids with short names', () => {
  const l = imagenetLabels();
  assert.equal(l.ids.length, 1000);
  assert.equal(l.names.length, 1000);
  assert.equal(l.ids[0], 'n01440764');
  assert.equal(l.names[0], 'tench');
  assert.equal(l.ids[999], 'n15075141');
  assert.deepEqual([...l.ids].sort(), [...l.ids]);
  assert.equal(findClass(l, 'goldfish'), 1);
  assert.equal(imagenetLabels(), l);
});

test('imagenetLabels matches shared synset_words.txt', { skip: !existsSync(synset) }, () => {
  const ref = parseSynsetWords(readFileSync(synset, 'utf8'));
  assert.deepEqual([...imagenetLabels().ids], ref.ids);
  assert.deepEqual([...imagenetLabels().names], ref.names);
});
