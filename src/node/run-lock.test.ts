import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { UapError } from '../errors.js';
import { acquireRunLock, LOCK_FILE } from './run-lock.js';

/** The run lock of an output folder: a live holder is refused by name, a dead one's lock is taken over. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-lock-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const lockModule = fileURLToPath(new URL('./run-lock.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

const refused = (pid: number) => (e: unknown) =>
  e instanceof UapError && e.code === 'BAD_ARGUMENT' && new RegExp(`another uap compute \\(pid ${pid}, started .*\\) is writing to this folder`).test(e.message);

test('a second run into a locked folder is refused; after release it may run', async () => {
  const dir = path.join(tmp, 'a');
  const lock = await acquireRunLock(dir, 'uap compute');
  await assert.rejects(acquireRunLock(dir, 'uap compute'), refused(process.pid));
  await lock.release();
  assert.ok(!existsSync(path.join(dir, LOCK_FILE)));
  await (await acquireRunLock(dir, 'uap compute')).release();
});

test('a lock held by a live process is refused; once it is SIGKILLed its stale lock is taken over', async () => {
  const dir = path.join(tmp, 'b');
  const script = path.join(tmp, 'hold.mts');
  writeFileSync(script, `import { acquireRunLock } from ${JSON.stringify(lockModule)};\nawait acquireRunLock(process.argv[2], 'uap compute');\nconsole.log('locked');\nsetInterval(() => {}, 1000);\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
  });
  await assert.rejects(acquireRunLock(dir, 'uap compute'), refused(child.pid!));
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.ok(existsSync(path.join(dir, LOCK_FILE)), 'the killed run left its lock');
  const lock = await acquireRunLock(dir, 'uap compute');
  assert.equal(JSON.parse(readFileSync(lock.file, 'utf8')).pid, process.pid);
  await lock.release();
});

test('an unreadable lock file is stale too', async () => {
  const dir = path.join(tmp, 'c');
  await (await acquireRunLock(dir, 'x')).release();
  writeFileSync(path.join(dir, LOCK_FILE), 'garbage');
  await (await acquireRunLock(dir, 'x')).release();
});

test('uap compute into a folder another run holds exits 2 before any work, naming it', { timeout: 60_000 }, async () => {
  const dir = path.join(tmp, 'cli');
  const lock = await acquireRunLock(dir, 'uap compute');
  const r = spawnSync(process.execPath, ['bin/uap.js', 'compute', '--model', 'mnist', '--data', 'mnist:test', '--xi', '10', '--out', dir], { cwd: repo, encoding: 'utf8' });
  await lock.release();
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^uap: ${dir}: another uap compute \\(pid ${process.pid}`, 'm'));
  assert.doesNotMatch(r.stderr, /model: mnist/, 'refused before the model was loaded');
});
