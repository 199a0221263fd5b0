import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const shared = process.env.UAP_SHARED ?? path.resolve('../shared');
const env = { ...process.env, UAP_MODELS_DIR: process.env.UAP_MODELS_DIR ?? path.join(shared, 'models') };

test('uap classify names the tench and the brambling, with scores', () => {
  const files = ['n01440764_tench.jpg', 'n01530575_brambling.jpg'].map((f) => path.join(shared, 'imagenet-sample/images', f));
  const r = spawnSync(process.execPath, ['bin/uap.js', 'classify', '--model', 'mobilenet_v1_0.75_224', '--json', ...files], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { results: { top: { id: string; score: number }[] }[] };
  assert.equal(out.results[0]!.top[0]!.id, 'n01440764');
  assert.equal(out.results[1]!.top[0]!.id, 'n01530575');
  assert.ok(out.results[0]!.top[0]!.score > 0.5 && out.results[0]!.top.length === 5);
});

test('uap models lists the zoo and finds the bundled MNIST model offline', () => {
  const r = spawnSync(process.execPath, ['bin/uap.js', 'models', '--json'], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { name: string; available: string }[];
  assert.match(rows.find((x) => x.name === 'mnist')!.available, /^bundled/);
  assert.match(rows.find((x) => x.name === 'tiny_darknet')!.available, /^mirror/);
});

test('uap runs a model on ONNX Runtime by default in Node, on tfjs with --engine tfjs, with the same scores', () => {
  const files = ['n01440764_tench.jpg', 'n01530575_brambling.jpg'].map((f) => path.join(shared, 'imagenet-sample/images', f));
  const classify = (engine: string[]) => {
    const r = spawnSync(process.execPath, ['bin/uap.js', ...engine, 'classify', '--model', 'mobilenet_v1_0.25_224', '--json', ...files], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    return { stderr: r.stderr, results: (JSON.parse(r.stdout) as { results: { top: { id: string; score: number }[] }[] }).results };
  };
  const ort = classify([]);
  const tfjs = classify(['--engine', 'tfjs']);
  const pool = classify(['--engine', 'ort', '--workers', '2']);
  assert.match(ort.stderr, /^engine: onnxruntime-node \(cpu, \d+ threads\)$/m);
  assert.match(pool.stderr, /^engine: onnxruntime-node \(cpu, 2 workers × 1 thread\)$/m);
  assert.doesNotMatch(tfjs.stderr, /onnxruntime/);
  for (const other of [tfjs, pool]) {
    ort.results.forEach((r, i) => {
      const t = other.results[i]!;
      assert.deepEqual(r.top.map((c) => c.id), t.top.map((c) => c.id));
      r.top.forEach((c, j) => assert.ok(Math.abs(c.score - t.top[j]!.score) < 1e-4, `${c.id}: ${c.score} vs ${t.top[j]!.score}`));
    });
  }
});
