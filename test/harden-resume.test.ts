import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

/** `uap harden` through the real CLI on a tiny MNIST setting: Ctrl-C mid-run exits 130 and --resume finishes from the checkpoint. */

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-harden-resume-'));

interface State {
  pool: { record: unknown }[];
  freshBefore?: { record: unknown };
  before?: unknown;
  training?: { epochs: unknown[] };
}

test('Ctrl-C during uap harden keeps the pool and fresh-before perturbations; --resume reuses them and writes harden.json', { timeout: 120_000 }, async () => {
  const out = path.join(tmp, 'run');
  const args = [bin, 'harden', '--model', 'mnist', '--limit', '200', '--test-limit', '100', '--attack-size', '30', '--pool', '1',
    '--max-passes', '2', '--deepfool-batch', '4', '--candidates', '4', '--epochs', '4', '--batch-size', '16', '--seed', '2', '--out', out];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const stateFile = path.join(out, 'checkpoint', 'state.json');
  const readState = (): State | undefined => {
    try {
      return JSON.parse(readFileSync(stateFile, 'utf8')) as State;
    } catch {
      return undefined; // not written yet
    }
  };
  // Interrupt once the "before" side is measured: the training epochs are still to come.
  const deadline = Date.now() + 90_000;
  while (!readState()?.before && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  assert.ok(readState()?.before, `no checkpoint with the before measurement: ${stderr}`);
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, stderr);
  assert.match(stderr, /keeps all completed work; pass --resume \(with the same settings\) to continue/);
  assert.equal(existsSync(path.join(out, 'harden.json')), false, 'an interrupted run writes no harden.json');
  const saved = readState()!;
  assert.equal(saved.pool.length, 1);
  assert.ok(saved.freshBefore);
  assert.ok((saved.training?.epochs.length ?? 0) < 4, 'interrupted before the last epoch');

  const resumed = spawnSync(process.execPath, [...args, '--resume', '--json'], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming: 1\/1 pool perturbations, fresh-before done/);
  assert.doesNotMatch(resumed.stderr, /pool 1\/1: pass|fresh vs original: pass/, 'the pool and fresh-before perturbations are not recomputed');
  const report = JSON.parse(readFileSync(path.join(out, 'harden.json'), 'utf8'));
  assert.deepEqual(JSON.parse(resumed.stdout), report);
  assert.deepEqual(report.pool, saved.pool.map((p) => p.record));
  assert.deepEqual(report.before.fresh, saved.freshBefore!.record);
  assert.deepEqual({ ...report.before, fresh: undefined }, { ...(saved.before as object), fresh: undefined });
  assert.deepEqual(report.training.epochs.map((e: { epoch: number }) => e.epoch), [1, 2, 3, 4]);
  assert.equal(report.resumed, true);
  assert.ok(existsSync(path.join(out, 'model.json')) && existsSync(path.join(out, 'weights.bin')));
  assert.equal(existsSync(path.join(out, 'checkpoint')), false, 'the checkpoint is removed once harden.json is written');
});
