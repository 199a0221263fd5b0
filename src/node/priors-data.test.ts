import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { test } from 'node:test';
import { UapError } from '../errors.js';
import { priorBatch } from '../data/priors.js';
import { loadDataset, parsePriorSpec, resolveDatasetSpec } from './datasets.js';

const S = [16, 16, 3] as const;

/** Runs `fn` with every file-opening/reading/listing call of node:fs and node:fs/promises counted (and failing). */
async function withoutFiles<T>(fn: () => Promise<T>): Promise<{ value: T; calls: string[] }> {
  const calls: string[] = [];
  const names = ['open', 'readFile', 'readdir', 'stat', 'lstat', 'access', 'opendir'] as const;
  const saved: Array<[Record<string, unknown>, string, unknown]> = [];
  const trap = (mod: Record<string, unknown>, name: string, label: string) => {
    if (typeof mod[name] !== 'function') return;
    saved.push([mod, name, mod[name]]);
    mod[name] = (...args: unknown[]) => {
      calls.push(`${label}.${name}(${String(args[0])})`);
      throw new Error(`file access during a prior: ${label}.${name}`);
    };
  };
  for (const n of names) {
    trap(fsp as unknown as Record<string, unknown>, n, 'fs/promises');
    trap(fs as unknown as Record<string, unknown>, n, 'fs');
    trap(fs as unknown as Record<string, unknown>, `${n}Sync`, 'fs');
  }
  syncBuiltinESMExports(); // the named imports (import { stat } from 'node:fs/promises') see the traps too
  try {
    return { value: await fn(), calls };
  } finally {
    for (const [mod, name, orig] of saved) mod[name] = orig;
    syncBuiltinESMExports();
  }
}

test('loadDataset("prior:…") opens, reads and lists no file: the images come from the seed alone', async () => {
  const { value, calls } = await withoutFiles(() => loadDataset('prior:jigsaw:12', { inputShape: S, seed: 3 }));
  assert.deepEqual(calls, []);
  assert.equal(value.n, 12);
  assert.deepEqual(value.images, priorBatch({ kind: 'jigsaw', n: 12, shape: S, seed: 3 }).images);
  assert.deepEqual(value.labels, new Int32Array(12).fill(-1));
  // The trap works: a photo folder under the same trap fails at its first file-system call.
  const photos = await withoutFiles(() => loadDataset('/tmp', { inputShape: S }).catch((e: unknown) => e));
  assert.ok(photos.calls.length > 0);
});

test('the spec: kind, N, seed and settings; the run seed and --limit apply; another UAP_SHARED changes nothing', async () => {
  assert.deepEqual(parsePriorSpec('prior:gaussian'), { kind: 'gaussian', n: 256 });
  assert.deepEqual(parsePriorSpec('PRIOR:Jigsaw:500:seed=7:sigma=8:blob=30:tiles=2-6'), { kind: 'jigsaw', n: 500, seed: 7, sigma: 8, blob: 30, minTiles: 2, maxTiles: 6 });
  assert.deepEqual(parsePriorSpec('prior:gaussian:mean=100:std=20'), { kind: 'gaussian', n: 256, mean: 100, sigma: 20 });
  assert.equal(parsePriorSpec('mnist:train'), undefined);
  const bad = (re: RegExp) => (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && re.test(e.message);
  assert.throws(() => parsePriorSpec('prior:uniform'), bad(/prior:uniform: unknown prior "uniform" \(expected prior:gaussian or prior:jigsaw\)/));
  assert.throws(() => parsePriorSpec('prior:gaussian:0'), bad(/"0" is not a number of images/));
  assert.throws(() => parsePriorSpec('prior:gaussian:sigma=abc'), bad(/sigma must be a number/));
  assert.throws(() => parsePriorSpec('prior:jigsaw:colour=red'), bad(/unknown prior setting "colour"/));
  await assert.rejects(resolveDatasetSpec('prior:gaussian'), bad(/a prior is generated, it names no image files/));

  const a = await loadDataset('prior:gaussian:5', { inputShape: S, seed: 1 });
  assert.deepEqual((await loadDataset('prior:gaussian:5:seed=1', { inputShape: S, seed: 99 })).images, a.images, 'the spec seed wins');
  assert.notDeepEqual((await loadDataset('prior:gaussian:5', { inputShape: S, seed: 2 })).images, a.images);
  const limited = await loadDataset('prior:gaussian:5', { inputShape: S, seed: 1, limit: 2 });
  assert.deepEqual(limited.images, a.images.subarray(0, 2 * 16 * 16 * 3));
  await assert.rejects(loadDataset('prior:gaussian:5', { inputShape: S, limit: 0 }), bad(/must be a positive integer/));

  // Two processes with different UAP_SHARED (the photos' root) produce the same images.
  const script = `import { loadDataset } from './src/node/datasets.ts'; import { createHash } from 'node:crypto';
    const b = await loadDataset('prior:jigsaw:4', { inputShape: [16, 16, 3], seed: 1 });
    console.log(createHash('sha256').update(new Uint8Array(b.images.buffer)).digest('hex'));`;
  const digest = (shared: string) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, UAP_SHARED: shared } });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  const one = digest('/nonexistent/one');
  assert.match(one, /^[0-9a-f]{64}$/);
  assert.equal(digest('/tmp'), one);
});
