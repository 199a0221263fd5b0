import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { reportCommand } from '../cli/report.js';
import { UapError } from '../errors.js';
import { writeNpy } from '../io/npy.js';
import { renderReport } from '../report/html.js';
import { HOSTILE, writeReportFixture } from './testing/report-fixture.js';
import { collectReportData, kindOfFile } from './report-files.js';

await tf.setBackend('cpu');

let root: string;
let hostile: string;
before(async () => {
  const base = await mkdtemp(path.join(tmpdir(), 'uap-report-'));
  root = path.join(base, 'plain');
  hostile = path.join(base, 'hostile');
  await writeReportFixture(root);
  await writeReportFixture(hostile, { hostile: true });
  // Things a report must survive: a broken JSON, a sweep of the wrong shape, an unrelated JSON, a bad .npy.
  await writeFile(path.join(root, 'transfer-broken.json'), '{"rows": [');
  await writeFile(path.join(root, 'sweep', 'sweep-old.json'), '{"hello": 1}');
  await writeFile(path.join(root, 'package.json'), '{"name": "x"}');
  await mkdir(path.join(root, 'runs', 'bad'), { recursive: true });
  await writeFile(path.join(root, 'runs', 'bad', 'perturbation.npy'), 'not numpy');
});
after(async () => {
  await rm(path.dirname(root), { recursive: true, force: true });
});

test('file kinds are judged by name', () => {
  assert.equal(kindOfFile('sweep.json'), 'sweep');
  assert.equal(kindOfFile('transfer-vgg.json'), 'transfer');
  assert.equal(kindOfFile('labels.json'), 'dominant');
  assert.equal(kindOfFile('perturbation.json'), undefined);
  assert.equal(kindOfFile('package.json'), undefined);
  assert.equal(kindOfFile('sweep.txt'), undefined);
});

test('collect: finds every run and file, attaches samples and evals to their run, lists what it skipped', async () => {
  const d = await collectReportData(root, { packageVersion: '9.9.9' });
  assert.deepEqual(d.runs.map((r) => r.dir), ['runs/color-linf-10', 'runs/mnist-l2-400']);
  const [linf, l2] = d.runs;
  assert.equal(l2!.record!.norm, 2);
  assert.deepEqual(l2!.shape, [28, 28, 1]);
  assert.ok(Math.abs(l2!.norm2 - 400) < 0.01);
  assert.ok(Math.abs(linf!.normInf - 10) < 1e-3);
  assert.equal(linf!.samples!.samples.length, 6);
  assert.equal(linf!.evals![0]!.foolingRate, 0.79);
  assert.match(linf!.image, /^data:image\/png;base64,/);
  assert.equal(d.sweeps.length, 1);
  assert.equal(d.sweeps[0]!.file, 'sweep/sweep.json');
  assert.equal(d.sweeps[0]!.value.points.length, 6);
  assert.deepEqual(d.transfers.map((t) => t.file), ['transfer.json']);
  assert.equal(d.subspaces.length, 1);
  assert.equal(d.dominantLabels[0]!.value.labels[0]!.label, 'tench & "trout" <fish>');
  assert.deepEqual(d.skipped.map((s) => s.file).sort(), ['runs/bad/perturbation.npy', 'sweep/sweep-old.json', 'transfer-broken.json']);
  assert.match(d.skipped.find((s) => s.file === 'transfer-broken.json')!.reason, /not valid JSON/);
  assert.equal(d.packageVersion, '9.9.9');
});

test('render: one page with every section, the settings and the reproduce command, nothing external', async () => {
  const html = renderReport(await collectReportData(root));
  for (const id of ['runs', 'sweep', 'transfer', 'dominant', 'subspace']) assert.ok(html.includes(`<section id="${id}">`), id);
  assert.ok(html.includes('--norm inf --xi 10'));
  assert.ok(html.includes(`${root}/runs/mnist-l2-400`), 'the command writes back to the run’s folder');
  assert.ok(html.includes('<b>not</b> clipped'));
  assert.equal((html.match(/<img /g) ?? []).length, 2 * 2 + 12, 'gallery + cards, six sample pairs');
  assert.ok((html.match(/<svg /g) ?? []).length >= 6);
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external reference');
  assert.ok(!/<script/i.test(html));
  assert.ok(html.includes('tench &amp; &quot;trout&quot; &lt;fish&gt;'));
  assert.ok(html.includes('3 files skipped'));
});

test('a .npy without a record (an imported perturbation) shows in the gallery only', async () => {
  const dir = path.join(path.dirname(root), 'imported');
  await mkdir(path.join(dir, 'lts4'), { recursive: true });
  const v = new Float32Array(4 * 4 * 3).map((_, i) => (i % 2 ? 10 : -10));
  await writeFile(path.join(dir, 'lts4', 'vgg-16.npy'), writeNpy(v, [4, 4, 3]));
  await writeFile(path.join(dir, 'lts4', 'broken.npy'), writeNpy(new Float32Array(5), [5]));
  const d = await collectReportData(dir);
  assert.deepEqual(d.runs.map((r) => [r.dir, r.record]), [['lts4/vgg-16.npy', undefined]]);
  assert.equal(d.runs[0]!.normInf, 10);
  assert.deepEqual(d.skipped.map((s) => s.file), ['lts4/broken.npy']);
  const html = renderReport(d);
  assert.equal((html.match(/<img /g) ?? []).length, 1);
  assert.ok(html.includes('<b>vgg-16</b>'));
  assert.ok(!html.includes('<article'), 'no settings card without a record');
});

test('render: markup in labels and file names stays text', async () => {
  const html = renderReport(await collectReportData(hostile));
  assert.ok(!/<script/i.test(html), 'no script element');
  assert.ok(!html.includes('<img src=x'), 'no injected image');
  assert.ok(html.includes('&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;'));
  assert.ok(HOSTILE.includes('<script>'));
});

test('uap report: writes DIR/report.html or --out; an empty or missing folder is an error', async () => {
  const out = await reportCommand(root, {});
  assert.equal(out, path.join(root, 'report.html'));
  const html = await readFile(out, 'utf8');
  assert.ok(html.startsWith('<!doctype html>'));
  // A second report over the same folder does not read the first one.
  const again = await collectReportData(root);
  assert.equal(again.skipped.length, 3);
  const custom = path.join(path.dirname(root), 'custom.html');
  assert.equal(await reportCommand(root, { out: custom, title: 'My <title>' }), custom);
  assert.ok((await readFile(custom, 'utf8')).includes('<title>My &lt;title&gt;</title>'));
  const empty = path.join(path.dirname(root), 'empty');
  await mkdir(empty);
  await assert.rejects(reportCommand(empty, {}), (e: unknown) => e instanceof UapError && e.code === 'NOT_FOUND');
  await assert.rejects(reportCommand(path.join(empty, 'nope'), {}), (e: unknown) => e instanceof UapError && e.code === 'NOT_FOUND');
  await assert.rejects(reportCommand(custom, {}), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT');
});
