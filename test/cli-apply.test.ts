import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { ApplyResultSchema, parseResult, writeNpy } from '../src/index.js';
import { sharedDir } from '../src/node/testing/photos.js';

/** `uap apply`: perturbed copies at each photo's own size; --check reads them back; bad input is one line each. */

const uap = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/uap.js', 'apply', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test('uap apply: a copy of the same name, size and format, v added; non-images listed, the rest done; reruns skip', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'uap-apply-'));
  try {
    const photo = path.join(dir, 'grey.png');
    await sharp({ create: { width: 90, height: 60, channels: 3, background: { r: 100, g: 120, b: 140 } } }).png().toFile(photo);
    // A constant v: every pixel of the photo moves by exactly +7, whatever the geometry.
    await writeFile(path.join(dir, 'perturbation.npy'), writeNpy(new Float32Array(16 * 16 * 3).fill(7), [16, 16, 3]));
    const bad = path.join(dir, 'notes.jpg');
    await writeFile(bad, 'not an image');
    const out = path.join(dir, 'out');
    const r = uap(['--perturbation', dir, '--out', out, '--json', bad, photo]);
    assert.equal(r.status, 3, 'a failed photo makes the exit code 3');
    const result = parseResult(ApplyResultSchema, JSON.parse(r.stdout), 'stdout', 'uap apply --json');
    assert.deepEqual([result.written, result.failed, result.photos[1]!.width, result.photos[1]!.height], [1, 1, 90, 60]);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('uap: '));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /notes\.jpg: not a readable image/);
    const { data, info } = await sharp(path.join(out, 'grey.png')).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [90, 60, 3]);
    assert.ok(data.every((x, i) => x === [107, 127, 147][i % 3]), 'every pixel moved by +7');
    assert.deepEqual(await readdir(out), ['grey.png'], 'nothing else written');

    const again = uap(['--perturbation', dir, '--out', out, '--json', photo]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).skipped, 1, 'the done copy is skipped');

    // --out = the photos' own folder: one line, exit 2, nothing written.
    const same = uap(['--perturbation', dir, '--out', dir, photo]);
    assert.equal(same.status, 2);
    assert.match(same.stderr.trim(), /^uap: .*is the folder of the input .*grey\.png/);
    assert.equal(same.stderr.trim().split('\n').length, 1);
    assert.deepEqual((await readdir(dir)).sort(), ['grey.png', 'notes.jpg', 'out', 'perturbation.npy']);

    // Flags are checked before anything loads.
    const q = uap(['--perturbation', dir, '--out', out, '--quality', '0', photo]);
    assert.equal(q.status, 2);
    assert.match(q.stderr.trim(), /^uap: --quality: /);
    const chk = uap(['--perturbation', dir, '--out', out, '--check', photo]);
    assert.match(chk.stderr.trim(), /^uap: --check: needs --model/);

    // --fit crop with a v that is not the model's size: refused, naming the perturbation file.
    const crop = uap(['--perturbation', path.join(dir, 'perturbation.npy'), '--out', path.join(dir, 'out2'), '--fit', 'crop', '--model', 'mnist', photo]);
    assert.equal(crop.status, 3, crop.stderr);
    assert.match(crop.stderr.trim().split('\n').at(-1)!, /^uap: .*perturbation\.npy: is 16×16×3, but mnist\S* sees 28×28×1/);
    assert.ok(!existsSync(path.join(dir, 'out2', 'grey.png')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const originals = path.join(sharedDir(), 'imagenet-sample', 'originals');
const vgg16 = path.join(sharedDir(), 'perturbations', 'lts4', 'vgg-16.npy');
const haveShared = existsSync(originals) && existsSync(vgg16) && existsSync(path.join(sharedDir(), 'models', 'mobilenet_v1_0.25_224'));

test('uap apply --check: the paper authors’ VGG-16 v changes top-1 on a MobileNet; v = 0 changes none', { skip: !haveShared && 'needs ../shared' }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'uap-apply-check-'));
  try {
    const photos = ['n01498041_stingray.jpg', 'n01558993_robin.jpg', 'n01560419_bulbul.jpg'].map((f) => path.join(originals, f));
    const env = { UAP_MODELS_DIR: path.join(sharedDir(), 'models') };
    const run = async (v: string, out: string) => {
      const r = uap(['--perturbation', v, '--out', out, '--check', '--model', 'mobilenet_v1_0.25_224', '--bound', '1.5', ...photos], env);
      assert.equal(r.status, 0, r.stderr);
      const res = parseResult(ApplyResultSchema, JSON.parse(await readFile(path.join(out, 'apply.json'), 'utf8')), 'apply.json', 'apply.json');
      assert.ok((await readFile(path.join(out, 'contact-sheet.html'), 'utf8')).includes('data:image/jpeg;base64,'), 'a contact sheet with thumbnails');
      return res;
    };
    const fooled = await run(vgg16, path.join(dir, 'vgg'));
    assert.equal(fooled.written, 3);
    const changed = fooled.photos.filter((p) => p.checks![0]!.changed).length;
    assert.ok(changed >= 1, `top-1 changed on ${changed} of 3`);
    for (const p of fooled.photos) {
      assert.ok(p.ssim! > 0.5 && p.ssim! < 0.999 && p.psnr! > 25 && p.psnr! < 45, `${p.input}: SSIM ${p.ssim}, PSNR ${p.psnr}`);
      assert.ok(p.bytesOut! > 0 && p.bytesIn! > 0);
    }
    // uap report turns the apply.json into a contact-sheet section, thumbnails made again from the files.
    const rep = spawnSync(process.execPath, ['bin/uap.js', 'report', path.join(dir, 'vgg')], { encoding: 'utf8' });
    assert.equal(rep.status, 0, rep.stderr);
    assert.match(rep.stderr, /1 contact sheet/);
    const html = await readFile(path.join(dir, 'vgg', 'report.html'), 'utf8');
    assert.ok(html.includes('Applied to photos') && (html.match(/data:image\/jpeg;base64,/g) ?? []).length === 9, 'three rows of original | copy | difference');
    await writeFile(path.join(dir, 'zero.npy'), writeNpy(new Float32Array(224 * 224 * 3), [224, 224, 3]));
    const zero = await run(path.join(dir, 'zero.npy'), path.join(dir, 'zero'));
    assert.deepEqual(zero.photos.map((p) => p.checks![0]!.changed), [false, false, false], 'v = 0: only the re-encoding, no label changes');
    assert.equal(zero.changedRate!['mobilenet_v1_0.25_224'], 0);
    for (const p of zero.photos) assert.ok(p.ssim! > fooled.photos.find((q) => path.basename(q.input) === path.basename(p.input))!.ssim!, 'v = 0 is closer to the original');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('uap apply interrupted (SIGINT, then SIGKILL): only complete copies; a rerun with --data skips them and finishes', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'uap-apply-kill-'));
  try {
    const photos = path.join(dir, 'photos');
    const names: string[] = [];
    for (let i = 0; i < 24; i++) {
      const name = `p${String(i).padStart(2, '0')}.jpg`;
      names.push(name);
      const px = Buffer.alloc(640 * 480 * 3).map((_, j) => (j * (i + 3)) % 251);
      await sharp(px, { raw: { width: 640, height: 480, channels: 3 } }).jpeg({ quality: 90 }).toFile(await ensureDir(path.join(photos, name)));
    }
    await writeFile(path.join(dir, 'v.npy'), writeNpy(new Float32Array(32 * 32 * 3).fill(5), [32, 32, 3]));
    const out = path.join(dir, 'out');
    const copies = async () => (existsSync(out) ? (await readdir(out)).filter((f) => f.endsWith('.jpg')) : []);
    const interrupt = async (signal: NodeJS.Signals) => {
      const child = spawn(process.execPath, ['bin/uap.js', 'apply', '--perturbation', path.join(dir, 'v.npy'), '--out', out, '--data', photos], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const before = (await copies()).length;
      while ((await copies()).length <= before && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
      child.kill(signal);
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      return { code, stderr };
    };
    const first = await interrupt('SIGINT');
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr.trim().split('\n').at(-1)!, /^uap: .*interrupted after \d+ of 24 photos; rerun to finish/);
    await interrupt('SIGKILL');
    const done = await copies();
    assert.ok(done.length >= 2 && done.length < 24, `${done.length} copies before the kill`);
    for (const f of done) {
      const m = await sharp(path.join(out, f)).metadata();
      assert.deepEqual([m.width, m.height], [640, 480], `${f} is complete`);
      await sharp(path.join(out, f), { failOn: 'warning' }).raw().toBuffer(); // decodes without a truncation warning
    }
    const rerun = uap(['--perturbation', path.join(dir, 'v.npy'), '--out', out, '--data', photos, '--json']);
    assert.equal(rerun.status, 0, rerun.stderr);
    const r = JSON.parse(rerun.stdout) as { skipped: number; written: number };
    assert.deepEqual([r.skipped, r.written], [done.length, 24 - done.length]);
    assert.deepEqual((await readdir(out)).sort(), names, 'every copy, and no temporary file left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function ensureDir(file: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  return file;
}
