import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { UapError } from '../errors.js';
import { writeNpy } from '../io/npy.js';
import { cleanStaleTemporaries, loadPerturbation, saveHooks, savePerturbation, type SaveStep } from './perturbation-files.js';
import { checkpointedRun, SHAPE } from './testing/checkpointed-run.js';

/**
 * The checkpoint is one commit: a process SIGKILLed at any step of a save, then resumed, ends with the same
 * v as a run never interrupted, resumes after the last committed pass, and leaves no temporaries behind.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-commit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const script = fileURLToPath(new URL('./testing/checkpointed-run.ts', import.meta.url));
const STEPS: SaveStep[] = ['staged-npy', 'temp-png', 'temp-json', 'committed', 'placed-npy', 'placed-png'];
const FILES = ['perturbation.json', 'perturbation.npy', 'perturbation.png'];

function runChild(dir: string, killAt: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', script, dir], { env: { ...process.env, UAP_TEST_KILL_AT: killAt } }, () => undefined);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

test('SIGKILL at each step of the second save, then --resume: the same v as an uninterrupted run', { timeout: 120_000 }, async () => {
  const reference = await checkpointedRun(path.join(tmp, 'uninterrupted'));
  assert.equal(reference.passes, 3);
  const dirs = STEPS.map((s) => path.join(tmp, `killed-${s}`));
  const exits = await Promise.all(STEPS.map((s, i) => runChild(dirs[i]!, `${s}@2`)));
  for (const [i, s] of STEPS.entries()) {
    assert.equal(exits[i]!.signal, 'SIGKILL', `the child was killed at ${s}`);
    const resumed = await checkpointedRun(dirs[i]!, true);
    const committed = STEPS.indexOf(s) >= STEPS.indexOf('committed');
    assert.equal(resumed.resumedAfter, committed ? 2 : 1, `killed at ${s}: resumes after the last committed pass`);
    assert.deepEqual(resumed.v, reference.v, `killed at ${s}: resumed v equals the uninterrupted v`);
    assert.deepEqual(readdirSync(dirs[i]!).sort(), FILES, `killed at ${s}: no temporaries left`);
  }
});

test('a reader never pairs a record with another pass’s values', async () => {
  const dir = path.join(tmp, 'pairs');
  const v1 = new Float32Array(16).fill(1);
  const v2 = new Float32Array(16).fill(2);
  const rec = (n: number) => ({
    formatVersion: 1 as const,
    modelId: 'm',
    inputShape: [...SHAPE] as [number, number, number],
    norm: 'inf' as const,
    xi: 10,
    method: 'deepfool',
    options: {},
    seed: n,
    backend: 'cpu',
    tfjsVersion: '4',
    packageVersion: '0',
    data: { spec: 'x', n: 1 },
    clip: true,
    history: [],
    foolingRateOnX: 0,
    wallSeconds: 0,
    createdAt: new Date(0).toISOString(),
  });
  await savePerturbation(dir, v1, SHAPE, rec(1));
  // an in-process "kill": the save stops for good right after its commit
  let stopped!: () => void;
  const reached = new Promise<void>((r) => (stopped = r));
  saveHooks.step = (s) => (s === 'committed' ? (stopped(), new Promise<void>(() => undefined)) : undefined);
  void savePerturbation(dir, v2, SHAPE, rec(2));
  await reached;
  saveHooks.step = undefined;
  const read = await loadPerturbation(dir); // eval: reads the staged copy, changes nothing
  assert.equal(read.record?.seed, 2);
  assert.deepEqual(read.data, v2);
  // perturbation.npy replaced by hand with other values: refused, not mixed
  writeFileSync(path.join(dir, 'perturbation.npy'), writeNpy(new Float32Array(16).fill(3), [4, 4, 1]));
  for (const f of readdirSync(dir)) if (f.startsWith('.perturbation.') && f.endsWith('.npy')) rmSync(path.join(dir, f));
  await assert.rejects(loadPerturbation(dir), (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT' && /holds other values than its record/.test(e.message));
});

test('stale temporaries of dead processes are removed; a live writer’s are kept', async () => {
  const dir = path.join(tmp, 'stale');
  await savePerturbation(dir, new Float32Array(16), SHAPE, {
    formatVersion: 1, modelId: 'm', inputShape: [4, 4, 1], norm: 'inf', xi: 1, method: 'x', options: {}, seed: 0, backend: 'cpu',
    tfjsVersion: '4', packageVersion: '0', data: { spec: 'x', n: 1 }, clip: true, history: [], foolingRateOnX: 0, wallSeconds: 0, createdAt: new Date(0).toISOString(),
  });
  const dead = `.perturbation.npy.999999999.0123abcd.tmp`;
  const live = `.perturbation.json.${process.pid}.0123abcd.tmp`;
  writeFileSync(path.join(dir, dead), 'x');
  writeFileSync(path.join(dir, live), 'x');
  writeFileSync(path.join(dir, '.perturbation.0123456789abcdef.npy'), 'x');
  assert.deepEqual((await cleanStaleTemporaries(dir)).sort(), ['.perturbation.0123456789abcdef.npy', dead]);
  assert.ok(readdirSync(dir).includes(live));
  rmSync(path.join(dir, live));
});
