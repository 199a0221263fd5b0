/**
 * Throughput of the queue with 1, 2 and 3 workers on this machine (docs/scale.md): a throwaway redis-server on
 * 127.0.0.1, `uap worker` processes, and timed coordinator runs of
 *   eval     the 10,000 MNIST test digits (embedded CNN), shards of 512;
 *   eval     200 ImageNet photos on mobilenet_v1_0.25_224 (needs ../shared), shards of 64;
 *   compute  1 SGD epoch over 500 MNIST training digits (16 steps of 32, 4 gradient jobs each).
 * Each is also timed locally (no queue). Prints one JSON line per measurement.
 *
 *   node --import tsx scripts/queue-throughput.ts [--workers 1,2,3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomPerturbation, writeNpy } from '../src/index.js';
import { startRedis } from '../src/node/queue/testing/redis-server.js';

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-throughput-'));
const shared = process.env.UAP_SHARED ?? path.resolve('../shared');
const counts = (process.argv.includes('--workers') ? process.argv[process.argv.indexOf('--workers') + 1]! : '1,2,3').split(',').map(Number);

function run(args: string[], env: Record<string, string> = {}): Promise<{ seconds: number; code: number | null; stderr: string }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ seconds: (Date.now() - t0) / 1000, code, stderr })));
}

const mnistNoise = path.join(tmp, 'mnist.npy');
writeFileSync(mnistNoise, writeNpy(randomPerturbation('sign', 28 * 28, 'inf', 120, 7), [28, 28, 1]));
const photoNoise = path.join(tmp, 'photo.npy');
writeFileSync(photoNoise, writeNpy(randomPerturbation('sign', 224 * 224 * 3, 'inf', 10, 7), [224, 224, 3]));
const val = path.join(shared, 'imagenet-sample/val.txt');
const env = { UAP_MODELS_DIR: path.join(shared, 'models') };

const jobs: Array<{ name: string; images: number; args: string[]; queueArgs: string[] }> = [
  { name: 'eval mnist:test (10,000 digits)', images: 10_000, args: ['eval', '--model', 'mnist', '--data', 'mnist:test', '--perturbation', mnistNoise], queueArgs: ['--shard-size', '512'] },
  ...(existsSync(val)
    ? [{ name: 'eval mobilenet_v1_0.25_224 (200 photos)', images: 200, args: ['eval', '--model', 'mobilenet_v1_0.25_224', '--data', val, '--perturbation', photoNoise], queueArgs: ['--shard-size', '64'] }]
    : []),
  {
    name: 'compute sgd, 1 epoch of 500 digits',
    images: 500,
    args: ['compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '500', '--method', 'sgd', '--xi', '77', '--max-passes', '1', '--out', path.join(tmp, 'sgd')],
    queueArgs: ['--grad-shards', '4'],
  },
];

for (const j of jobs) {
  const r = await run(j.args, env);
  console.log(JSON.stringify({ job: j.name, workers: 0, seconds: r.seconds, imagesPerSecond: j.images / r.seconds, ok: r.code === 0 }));
}
for (const n of counts) {
  const redis = await startRedis();
  const workers: ChildProcess[] = [];
  let ready = 0;
  for (let i = 0; i < n; i++) {
    const w = spawn(process.execPath, [bin, 'worker', '--queue', redis.url], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    w.stderr!.on('data', (d) => /waiting for jobs/.test(String(d)) && ready++);
    workers.push(w);
  }
  while (ready < n) await new Promise((r) => setTimeout(r, 100));
  for (const j of jobs) {
    await run([...j.args, '--queue', redis.url, ...j.queueArgs], env); // warm: every worker loads the model
    const r = await run([...j.args, '--queue', redis.url, ...j.queueArgs], env);
    console.log(JSON.stringify({ job: j.name, workers: n, seconds: r.seconds, imagesPerSecond: j.images / r.seconds, ok: r.code === 0 }));
  }
  for (const w of workers) w.kill('SIGTERM');
  await redis.stop();
}
