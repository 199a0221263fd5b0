import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { UapError } from '../errors.js';
import type { PerturbationRecord } from '../io/perturbation-record.js';
import { checkOutDir, checkOutFile, openOutDir } from './out-dir.js';
import { loadPerturbation, savePerturbation } from './perturbation-files.js';

/** --out checked before any work: a file, a path under a file, an unwritable or full place, each one line. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-out-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const refused = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
  assert.equal(e.code, 'BAD_ARGUMENT');
  assert.equal(e.option, 'out', 'the CLI shows it as --out');
  assert.match(e.message, re);
  return true;
};

async function withFault<T>(spec: string, f: () => Promise<T>): Promise<T> {
  process.env.UAP_TEST_FAULT = spec;
  try {
    return await f();
  } finally {
    delete process.env.UAP_TEST_FAULT;
  }
}

test('an existing file, a path under a file, an unwritable folder and a full disk are refused up front', { timeout: 10_000 }, async () => {
  const file = path.join(tmp, 'a-file');
  writeFileSync(file, 'x');
  await assert.rejects(checkOutDir(file), refused(/a-file is a file, not a folder/));
  await assert.rejects(checkOutDir(path.join(file, 'sub', 'dir')), refused(/sub.dir cannot be created: .*a-file is a file/));
  await assert.rejects(checkOutDir('/sys/uap-out/x'), refused(/cannot be created \(permission denied\)/));
  await assert.rejects(checkOutDir('/proc/uap-out/x'), refused(/cannot be created/)); // mkdir -p would loop here
  await assert.rejects(checkOutDir('/sys'), refused(/\/sys is not writable \(permission denied\)/));
  const full = path.join(tmp, 'full');
  await withFault('out-probe:ENOSPC', () => assert.rejects(checkOutDir(full), refused(/full is not writable \(no space left on the device\)/)));
  assert.ok(!existsSync(full), 'a folder created for the check is removed again');
  await withFault('out-probe:EROFS', () => assert.rejects(checkOutDir(full), refused(/read-only file system/)));
  // files
  await assert.rejects(checkOutFile(tmp), refused(/is a folder, expected a file name/));
  await assert.rejects(checkOutFile(path.join(file, 'm.json')), refused(/a-file is a file/));
  await checkOutFile(path.join(tmp, 'new', 'm.json'));
  assert.ok(!existsSync(path.join(tmp, 'new')), 'checking a file leaves nothing behind');
});

test('openOutDir: a folder it created is removed when the run writes nothing, kept otherwise', async () => {
  const empty = path.join(tmp, 'runs', 'empty');
  const o = await openOutDir(empty, 'uap compute');
  assert.deepEqual(readdirSync(empty), ['.uap.lock']);
  await o.release();
  assert.ok(!existsSync(path.join(tmp, 'runs')), 'nothing left');
  const used = path.join(tmp, 'runs2', 'used');
  const u = await openOutDir(used, 'uap compute');
  writeFileSync(path.join(used, 'result'), 'x');
  await u.release();
  assert.deepEqual(readdirSync(used), ['result']);
  mkdirSync(path.join(tmp, 'exists'));
  await (await openOutDir(path.join(tmp, 'exists'), 'x')).release();
  assert.ok(existsSync(path.join(tmp, 'exists')), 'a folder that was there stays');
});

test('a disk that fills mid-run: the save fails in one line and the previous pass stays whole', async () => {
  const dir = path.join(tmp, 'fills');
  const rec = (seed: number): PerturbationRecord => ({
    formatVersion: 1, modelId: 'm', inputShape: [2, 2, 1], norm: 'inf', xi: 9, method: 'deepfool', options: {}, seed, backend: 'cpu',
    tfjsVersion: '4', packageVersion: '0', data: { spec: 'x', n: 1 }, clip: true, history: [], foolingRateOnX: 0, wallSeconds: 0,
    createdAt: new Date(0).toISOString(),
  });
  await savePerturbation(dir, new Float32Array([1, 2, 3, 4]), [2, 2, 1], rec(1));
  for (const n of [1, 2, 3]) {
    await withFault(`write:ENOSPC@${n}`, () =>
      assert.rejects(savePerturbation(dir, new Float32Array([5, 6, 7, 8]), [2, 2, 1], rec(2)), refused(/cannot save into .*fills \(no space left on the device\); what was saved before is intact/)),
    );
    const p = await loadPerturbation(dir);
    assert.equal(p.record?.seed, 1);
    assert.deepEqual([...p.data], [1, 2, 3, 4]);
    assert.deepEqual(readdirSync(dir).sort(), ['perturbation.json', 'perturbation.npy', 'perturbation.png'], 'no temporaries left');
  }
});
