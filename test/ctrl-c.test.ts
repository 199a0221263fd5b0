import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readNpy } from '../src/io/npy.js';

/**
 * Ctrl-C mid-pass on an ImageNet model (issue #11, item 5): `uap compute` on mobilenet_v1_0.75_224, where one
 * pass over a few photos takes seconds. The first SIGINT must stop the run at the next DeepFool iteration — not
 * at the end of the pass — exit 130 and leave the last completed pass on disk untouched; a second SIGINT exits
 * at once. The bound below is the 1 s plus 1 s of slack for tearing the process down on a loaded
 * machine (before the fix the run went on to the end of the pass: 22.6 s with 20 photos).
 */

const shared = process.env.UAP_SHARED ?? path.resolve('../shared');
const env = { ...process.env, UAP_MODELS_DIR: process.env.UAP_MODELS_DIR ?? path.join(shared, 'models') };
const TRAIN = path.join(shared, 'imagenet-sample/train.txt');
const LIMIT_MS = 2000;

async function interruptMidPass(signals: number): Promise<{ code: number | null; latencyMs: number; stderr: string; before: Buffer[]; after: Buffer[] }> {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'uap-ctrl-c-')), 'run');
  // ξ = 2 keeps the goal 1 − δ out of reach, so the run would go on for all 5 passes.
  const args = ['bin/uap.js', 'compute', '--model', 'mobilenet_v1_0.75_224', '--data', TRAIN, '--limit', '6', '--xi', '2', '--method', 'deepfool', '--delta', '0.01', '--max-passes', '5', '--out', out];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const files = ['perturbation.npy', 'perturbation.json'].map((f) => path.join(out, f));
  const deadline = Date.now() + 240_000;
  while (!existsSync(files[1]!) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(files[1]!), `no checkpoint after the first pass: ${stderr}`);
  // Early in pass 2 (a pass over 6 photos takes seconds here), after the checkpoint's writes.
  await new Promise((r) => setTimeout(r, 300));
  const before = files.map((f) => readFileSync(f));
  const t0 = performance.now();
  child.kill('SIGINT');
  for (let k = 1; k < signals; k++) setTimeout(() => child.kill('SIGINT'), 20 * k);
  const code = await exited;
  const latencyMs = performance.now() - t0;
  return { code, latencyMs, stderr, before, after: files.map((f) => readFileSync(f)) };
}

function assertCheckpointIntact(r: { before: Buffer[]; after: Buffer[] }) {
  assert.ok(r.after[0]!.equals(r.before[0]!), 'perturbation.npy changed after the interrupt');
  assert.ok(r.after[1]!.equals(r.before[1]!), 'perturbation.json changed after the interrupt');
  const record = JSON.parse(r.after[1]!.toString('utf8'));
  assert.equal(record.history.length, 1, 'the checkpoint holds the completed pass 1');
  assert.equal(record.options.complete, false);
  const { shape } = readNpy(new Uint8Array(r.after[0]!), 'perturbation.npy');
  assert.deepEqual(shape, [224, 224, 3]);
}

test('Ctrl-C mid-pass on mobilenet_v1_0.75_224 stops within a second, exit 130, the completed pass kept', async () => {
  const r = await interruptMidPass(1);
  console.error(`# Ctrl-C latency (signal → exit): ${r.latencyMs.toFixed(0)} ms`);
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted after 1 completed passes; continue with --resume/);
  assert.ok(r.latencyMs < LIMIT_MS, `exited ${r.latencyMs.toFixed(0)} ms after SIGINT`);
  assertCheckpointIntact(r);
});

test('a second Ctrl-C exits at once with 130, the checkpoint intact', async () => {
  const r = await interruptMidPass(2);
  console.error(`# second Ctrl-C latency (first signal → exit): ${r.latencyMs.toFixed(0)} ms`);
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGINT again: exiting now/);
  assert.ok(r.latencyMs < LIMIT_MS, `exited ${r.latencyMs.toFixed(0)} ms after SIGINT`);
  assertCheckpointIntact(r);
});
