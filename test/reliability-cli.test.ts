import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

/**
 * issue #11 through the real CLI: --out problems and a bad --seed are refused before any work; a disk that
 * fills mid-run loses only the pass being saved, and --resume then refuses any changed setting by name and,
 * with the same settings, ends with the bytes of a run never interrupted.
 */

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-rel-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function uap(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: child.exitCode ?? (err ? 1 : 0), stdout, stderr }),
    );
  });
}

const compute = (out: string, extra: string[] = []) => [
  'compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '10', '--xi', '77', '--method', 'deepfool', '--step', '2',
  '--max-passes', '2', '--delta', '0.01', '--seed', '3', '--out', out, ...extra,
];

test('--out that is a file or sits on a full disk, and --seed 1e300, are refused before the model loads', { timeout: 120_000 }, async () => {
  const file = path.join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const full = path.join(tmp, 'full');
  const seedOut = path.join(tmp, 'seed');
  const [asFile, onFull, seed] = await Promise.all([
    uap(compute(file)),
    uap(compute(full), { UAP_TEST_FAULT: 'out-probe:ENOSPC' }),
    uap(compute(seedOut, ['--seed', '1e300'])),
  ]);
  assert.equal(asFile.code, 2, asFile.stderr);
  assert.match(asFile.stderr, /^uap: --out: .*a-file is a file, not a folder$/m);
  assert.equal(onFull.code, 2, onFull.stderr);
  assert.match(onFull.stderr, /^uap: --out: .*full is not writable \(no space left on the device\)$/m);
  assert.equal(seed.code, 2, seed.stderr);
  assert.match(seed.stderr, /^uap: --seed: must be an integer from 0 to 9007199254740991, got 1e300$/m);
  for (const r of [asFile, onFull, seed]) assert.doesNotMatch(r.stderr, /^model:/m, 'refused before the model loaded');
  assert.ok(!existsSync(full) && !existsSync(seedOut), 'a refused run leaves no folder');
});

test('a disk full at the 2nd save: the 1st pass is kept; --resume refuses changed settings by name, then equals an uninterrupted run', { timeout: 300_000 }, async () => {
  const ref = path.join(tmp, 'uninterrupted');
  const out = path.join(tmp, 'fills');
  const [whole, failed] = await Promise.all([uap(compute(ref)), uap(compute(out), { UAP_TEST_FAULT: 'write:ENOSPC@4' })]);
  assert.equal(whole.code, 0, whole.stderr);
  assert.equal(failed.code, 2, failed.stderr);
  assert.match(failed.stderr, /^uap: --out: cannot save into .*fills \(no space left on the device\); what was saved before is intact$/m);
  assert.deepEqual(readdirSync(out).sort(), ['perturbation.json', 'perturbation.npy', 'perturbation.png'], 'no temporaries, no lock left');
  assert.equal(JSON.parse(readFileSync(path.join(out, 'perturbation.json'), 'utf8')).history.length, 1);

  const changed: Array<[string[], RegExp]> = [
    [['--limit', '11'], /--limit 10, this run has 11/],
    [['--method', 'sgd'], /--method "deepfool", this run has "sgd"/],
    [['--overshoot', '0.5'], /--overshoot 0\.02, this run has 0\.5/],
    [['--no-clip'], /x \+ v clipped, this run has it not clipped \(--no-clip\)/],
    [['--target', '3'], /no --target, this run has --target 3/],
  ];
  for (const [extra, re] of changed) {
    // one after another: the run lock refuses a second run into the folder while one is in it
    const r = await uap([...compute(out), '--resume', ...extra]);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /resume with the same settings, or start afresh without --resume/);
  }
  const resumed = await uap([...compute(out), '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming after pass 1/);
  assert.deepEqual(readFileSync(path.join(out, 'perturbation.npy')), readFileSync(path.join(ref, 'perturbation.npy')));
  const a = JSON.parse(readFileSync(path.join(out, 'perturbation.json'), 'utf8'));
  const b = JSON.parse(readFileSync(path.join(ref, 'perturbation.json'), 'utf8'));
  assert.deepEqual(a.options, b.options);
  assert.deepEqual(a.history.map((h: { foolingRate: number }) => h.foolingRate), b.history.map((h: { foolingRate: number }) => h.foolingRate));
});
