import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { writeNpy } from '../src/index.js';

/** `uap apply`: v on photos at their own size (the web page's download, from the command line). */
test('uap apply writes each photo at its own size with v added; bad input is one line', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'uap-apply-'));
  try {
    const photo = path.join(dir, 'grey.png');
    await sharp({ create: { width: 90, height: 60, channels: 3, background: { r: 100, g: 120, b: 140 } } }).png().toFile(photo);
    // A constant v: every pixel of the photo moves by exactly +7, whatever the geometry.
    await writeFile(path.join(dir, 'perturbation.npy'), writeNpy(new Float32Array(16 * 16 * 3).fill(7), [16, 16, 3]));
    const out = path.join(dir, 'out');
    const r = spawnSync(process.execPath, ['bin/uap.js', 'apply', '--perturbation', dir, '--out', out, '--json', photo], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { files: Array<{ file: string; width: number; height: number }> };
    assert.deepEqual(result.files.map((f) => [path.basename(f.file), f.width, f.height]), [['grey-uap.png', 90, 60]]);
    const { data, info } = await sharp(result.files[0]!.file).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [90, 60, 3]);
    assert.ok(data.every((x, i) => x === [107, 127, 147][i % 3]), 'every pixel moved by +7');
    assert.deepEqual(await readdir(out), ['grey-uap.png'], 'nothing else written');

    await writeFile(path.join(dir, 'notes.jpg'), 'not an image');
    const bad = spawnSync(process.execPath, ['bin/uap.js', 'apply', '--perturbation', dir, '--out', out, path.join(dir, 'notes.jpg')], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr.trim(), /^uap: .*notes\.jpg: not a readable image/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
