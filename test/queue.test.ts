import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { randomPerturbation } from '../src/eval/random-noise.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { freePort, haveRedisServer, startRedis, type TestRedis } from '../src/node/queue/testing/redis-server.js';

/**
 * The queue end to end: a real redis-server on 127.0.0.1 (a free port, nothing on disk), three `uap worker`
 * processes, and the coordinator commands. Queued results must equal the local ones exactly (eval, labels)
 * or within 1e-4 (SGD), also when a worker is killed mid-job, when a job throws once, and across a
 * coordinator restart with --resume; bad input gives one line.
 */

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-queue-'));
const skip = haveRedisServer() ? false : 'redis-server is not installed (apt-get install redis-server)';

let redis: TestRedis;
const workers: Array<{ child: ChildProcess; log: () => string }> = [];
const noise = path.join(tmp, 'noise.npy');
const wrongShape = path.join(tmp, 'rgb.npy');

function startWorker(extraEnv: Record<string, string> = {}): { child: ChildProcess; log: () => string } {
  const child = spawn(process.execPath, [bin, 'worker', '--queue', redis.url, '--lock-duration', '4000', '--stalled-interval', '1000'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...extraEnv },
  });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const w = { child, log: () => log };
  workers.push(w);
  return w;
}

async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs the CLI without blocking this process (spawnSync would stop it from reading the workers' logs, and a
 * worker whose stderr pipe fills up would stall).
 */
async function uap(args: string[], timeout = 120_000, env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string; seconds: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout, env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const status = await new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { status, stdout, stderr, seconds: (Date.now() - t0) / 1000 };
}

async function json<T>(args: string[]): Promise<T> {
  const r = await uap([...args, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** The line `uap:` printed for an error (progress bars and notes aside). */
function errorLines(stderr: string): string[] {
  return stderr.split(/[\r\n]+/).filter((l) => l.startsWith('uap:'));
}

function allWorkerLogs(): string {
  return workers.map((w) => w.log()).join('\n');
}

before(async () => {
  if (skip) return;
  writeFileSync(noise, writeNpy(randomPerturbation('sign', 28 * 28, 'inf', 120, 7), [28, 28, 1]));
  writeFileSync(wrongShape, writeNpy(new Float32Array(28 * 28 * 3), [28, 28, 3]));
  redis = await startRedis();
  // Shard 3's first attempt throws on whichever worker takes it: a retried job, nothing lost.
  for (let i = 0; i < 3; i++) startWorker({ UAP_WORKER_FAULT: 'throw-once:3' });
  await waitFor('3 workers', () => workers.every((w) => /waiting for jobs/.test(w.log())));
});

after(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await redis?.stop();
});

const evalArgs = ['eval', '--model', 'mnist', '--data', 'mnist:test', '--perturbation', noise];
type EvalOut = { n: number; labelled: number; foolingRate: number; accuracyClean: number; accuracyPerturbed: number };
let local: EvalOut;

test('queued eval over the 10,000 MNIST test digits equals the local eval exactly (a job that throws once is retried)', { skip }, async () => {
  local = await json<EvalOut>(evalArgs);
  assert.equal(local.n, 10_000);
  assert.ok(local.foolingRate > 0.005, `noise fools ${local.foolingRate}`);
  const queued = await json<EvalOut>([...evalArgs, '--queue', redis.url, '--shard-size', '500']);
  assert.deepEqual(queued, local);
  assert.match(allWorkerLogs(), /injected fault \(UAP_WORKER_FAULT\) on shard 3/);
  // Redis listens on 127.0.0.1 only.
  const bind = spawnSync('redis-cli', ['-p', String(redis.port), 'config', 'get', 'bind'], { encoding: 'utf8' });
  if (bind.status === 0) assert.match(bind.stdout, /^bind\s+127\.0\.0\.1\s*$/m);
});

test('a worker killed with SIGKILL mid-job: its job is retried elsewhere and the result is still exact', { skip }, async () => {
  assert.ok(local, 'needs the first test');
  const victim = workers[0]!;
  const before = victim.log().length; // the logs are read as they come (nothing blocks this process)
  const child = spawn(process.execPath, [bin, ...evalArgs, '--queue', redis.url, '--shard-size', '500', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  await waitFor('the victim to start a job', () => /: started/.test(victim.log().slice(before)));
  victim.child.kill('SIGKILL');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, err);
  assert.deepEqual(JSON.parse(out), local);
  assert.match(allWorkerLogs(), /stalled/);
  startWorker(); // back to three for the rest
  await waitFor('the new worker', () => /waiting for jobs/.test(workers.at(-1)!.log()));
});

test('queued labels equal the local dominant labels', { skip }, async () => {
  const args = ['labels', '--model', 'mnist', '--data', 'mnist:test', '--limit', '1000', '--perturbation', noise];
  const a = await json<Record<string, unknown>>(args);
  const b = await json<Record<string, unknown>>([...args, '--queue', redis.url, '--shard-size', '256']);
  assert.deepEqual(b, a);
});

test('queued transfer matrix equals the local one', { skip }, async () => {
  const args = ['transfer', '--models', 'mnist', '--perturbations', `${noise},${wrongShape}`, '--data', 'mnist:test', '--limit', '500'];
  const strip = (m: Record<string, unknown>) => ({ ...m, createdAt: null });
  const a = strip(await json<Record<string, unknown>>(args));
  const b = strip(await json<Record<string, unknown>>([...args, '--queue', redis.url, '--shard-size', '256']));
  assert.deepEqual(b, a);
});

const sgdArgs = (out: string) =>
  ['compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '200', '--method', 'sgd', '--xi', '77', '--max-passes', '3', '--delta', '0.01', '--seed', '4', '--out', out];
const vOf = (dir: string) => readNpy(new Uint8Array(readFileSync(path.join(dir, 'perturbation.npy'))), 'perturbation.npy').data;
function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('queued SGD compute gives the local v (within 1e-4), also after the coordinator is killed and resumed', { skip }, async () => {
  const localDir = path.join(tmp, 'sgd-local');
  const r = await uap(sgdArgs(localDir));
  assert.equal(r.status, 0, r.stderr);
  const vLocal = vOf(localDir);
  assert.ok(Math.max(...vLocal.map(Math.abs)) > 1, 'a non-trivial v');

  const queuedDir = path.join(tmp, 'sgd-queued');
  const q = await uap([...sgdArgs(queuedDir), '--queue', redis.url, '--grad-shards', '3']);
  assert.equal(q.status, 0, q.stderr);
  assert.ok(maxDiff(vOf(queuedDir), vLocal) <= 1e-4, `max |Δv| ${maxDiff(vOf(queuedDir), vLocal)}`);

  // A coordinator killed after its first checkpoint; a new one with --resume finishes the run.
  const resumedDir = path.join(tmp, 'sgd-resumed');
  mkdirSync(resumedDir, { recursive: true });
  const child = spawn(process.execPath, [bin, ...sgdArgs(resumedDir), '--queue', redis.url, '--grad-shards', '3'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const ckpt = path.join(resumedDir, 'perturbation.json');
  await waitFor(`a checkpoint (${err})`, () => existsSync(ckpt));
  child.kill('SIGKILL');
  await new Promise((res) => child.on('exit', res));
  const saved = JSON.parse(readFileSync(ckpt, 'utf8')) as { history: unknown[] };
  assert.ok(saved.history.length >= 1 && saved.history.length < 3, `passes on disk: ${saved.history.length}`);
  const resumed = await uap([...sgdArgs(resumedDir), '--queue', redis.url, '--grad-shards', '3', '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming after pass ${saved.history.length}`));
  assert.ok(maxDiff(vOf(resumedDir), vLocal) <= 1e-4, `max |Δv| ${maxDiff(vOf(resumedDir), vLocal)}`);
});

test('bad input gives one clear line: unreachable Redis, a model the workers cannot load, a job that throws', { skip }, async () => {
  const dead = await uap([...evalArgs, '--queue', 'redis://127.0.0.1:1'], 30_000);
  assert.equal(dead.status, 4, dead.stderr);
  assert.deepEqual(errorLines(dead.stderr).length, 1, dead.stderr);
  assert.match(dead.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  assert.ok(dead.seconds < 20, `took ${dead.seconds} s`);

  const missing = path.join(tmp, 'no-such-model', 'model.json');
  const noModel = await uap(['eval', '--model', missing, '--data', 'mnist:test', '--limit', '600', '--perturbation', noise, '--queue', redis.url]);
  assert.equal(noModel.status, 4, noModel.stderr);
  assert.equal(errorLines(noModel.stderr).length, 1, noModel.stderr);
  assert.match(errorLines(noModel.stderr)[0]!, new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\(shard \\d+, 1 attempt on worker `));

  const throws = await uap(['eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '600', '--perturbation', wrongShape, '--queue', redis.url]);
  assert.equal(throws.status, 3, throws.stderr);
  assert.equal(errorLines(throws.stderr).length, 1, throws.stderr);
  assert.match(errorLines(throws.stderr)[0]!, /the perturbation is 28×28×3, the model mnist expects 28×28×1/);

  // Nothing is left waiting, and every worker is still up.
  const status = await uap(['queue', 'status', '--queue', redis.url, '--json'], 30_000);
  assert.equal(status.status, 0, status.stderr);
  const st = JSON.parse(status.stdout) as { counts: Record<string, number>; workers: unknown[] };
  assert.equal(st.counts.waiting, 0);
  assert.ok(st.workers.length >= 3, `workers: ${JSON.stringify(st.workers)}`);
  assert.ok(workers.filter((w) => w.child.exitCode === null).length >= 3);
});

test('a Redis password is required and accepted; Ctrl-C on the coordinator removes its jobs', { skip }, async () => {
  const locked = await startRedis(['--requirepass', 's3cret']);
  try {
    const wrong = await uap(['queue', 'status', '--queue', `redis://:wrong@127.0.0.1:${locked.port}`], 30_000);
    assert.equal(wrong.status, 4);
    assert.match(errorLines(wrong.stderr)[0] ?? '', /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: .*(WRONGPASS|invalid)/i);
    assert.doesNotMatch(wrong.stderr, /wrong/);
    const right = await uap(['queue', 'status', '--queue', `redis://:s3cret@127.0.0.1:${locked.port}`, '--json'], 30_000);
    assert.equal(right.status, 0, right.stderr);
    assert.deepEqual(JSON.parse(right.stdout).workers, []);
  } finally {
    await locked.stop();
  }

  // No worker listens on this queue's Redis: the jobs wait; Ctrl-C removes them.
  const idle = await startRedis();
  try {
    const child = spawn(process.execPath, [bin, ...evalArgs, '--queue', idle.url, '--shard-size', '1000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const connection = new Redis(idle.url, { maxRetriesPerRequest: null });
    const queue = new Queue('uap', { connection });
    try {
      let waiting = 0;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (waiting = (await queue.getJobCounts('waiting')).waiting ?? 0) < 10) await new Promise((r) => setTimeout(r, 100));
      assert.equal(waiting, 10, err);
      child.kill('SIGINT');
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 130, err);
      assert.equal((await queue.getJobCounts('waiting')).waiting, 0);
      const status = await uap(['queue', 'status', '--queue', idle.url, '--json'], 30_000);
      assert.equal(status.status, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).counts.waiting, 0);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  } finally {
    await idle.stop();
  }
});

test('rediss:// (TLS) is accepted; a private CA is trusted through NODE_EXTRA_CA_CERTS, else one clear line', { skip: skip || (spawnSync('openssl', ['version']).status === 0 ? false : 'no openssl') }, async () => {
  const dir = path.join(tmp, 'tls');
  mkdirSync(dir, { recursive: true });
  const ssl = (args: string[]) => assert.equal(spawnSync('openssl', args, { cwd: dir, stdio: 'ignore' }).status, 0, `openssl ${args[0]}`);
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=uap test CA']);
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
  const tlsPort = await freePort();
  const tlsRedis = await startRedis(['--port', '0', '--tls-port', String(tlsPort), '--tls-cert-file', path.join(dir, 'server.pem'), '--tls-key-file', path.join(dir, 'server.key'), '--tls-ca-cert-file', path.join(dir, 'ca.pem'), '--tls-auth-clients', 'no']);
  try {
    const url = `rediss://127.0.0.1:${tlsPort}`;
    const untrusted = await uap(['queue', 'status', '--queue', url], 30_000);
    assert.equal(untrusted.status, 4);
    assert.match(errorLines(untrusted.stderr)[0] ?? '', /cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+: self-signed certificate/);
    const trusted = await uap(['queue', 'status', '--queue', url, '--json'], 30_000, { NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem') });
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.deepEqual(JSON.parse(trusted.stdout).counts.waiting, 0);
  } finally {
    await tlsRedis.stop();
  }
});
