import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { PerturbationRecord } from '../src/io/perturbation-record.js';
import { savePerturbation } from '../src/node/perturbation-files.js';

/**
 * issue #11 through the real CLI, evaluation side: ‖v‖ printed and a v over its record's ξ warned about;
 * clear lines for eval --random without --xi, a NUL byte in a weight path, a stalled download; and
 * `uap transfer --out` checked up front, its matrix kept when the final write fails.
 */

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-rel-eval-'));
const sockets = new Set<Socket>();
let server: http.Server;
let base: string;

before(async () => {
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': 100 });
    res.write('{"modelTo'); // then nothing: a stall after the headers
  });
  server.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  for (const s of sockets) s.destroy();
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

function uap(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: child.exitCode ?? (err ? 1 : 0), stdout, stderr }),
    );
  });
}

const record: PerturbationRecord = {
  formatVersion: 1, modelId: 'mnist', inputShape: [28, 28, 1], norm: 'inf', xi: 77, method: 'deepfool', options: {}, seed: 1,
  backend: 'wasm', tfjsVersion: '4.22.0', packageVersion: '0.1.0', data: { spec: 'mnist:train', n: 10 }, clip: true, history: [],
  foolingRateOnX: 0, wallSeconds: 0, createdAt: new Date(0).toISOString(),
};

test('uap eval prints ‖v‖ and warns when v exceeds its record’s ξ', { timeout: 120_000 }, async () => {
  const dir = path.join(tmp, 'over');
  await savePerturbation(dir, new Float32Array(28 * 28).fill(200), [28, 28, 1], record);
  const r = await uap(['eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '20', '--perturbation', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: .*perturbation\.npy: ‖v‖∞ = 200\.00 exceeds the ξ = 77 of its record/m);
  assert.match(r.stdout, /‖v‖∞ 200\.00, ‖v‖₂ 5600\.0 \(pixels\); its record: ξ = 77 \(ℓ∞\)/);
  const ok = path.join(tmp, 'within');
  await savePerturbation(ok, new Float32Array(28 * 28).fill(-77), [28, 28, 1], record);
  const j = await uap(['eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '20', '--perturbation', ok, '--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.doesNotMatch(j.stderr, /warning/);
  const out = JSON.parse(j.stdout) as { normInf: number; recordXi: number };
  assert.equal(out.normInf, 77);
  assert.equal(out.recordXi, 77);
});

test('clear lines: eval --random without --xi, a NUL byte in a weight path, a stalled download', { timeout: 120_000 }, async () => {
  const nul = path.join(tmp, 'nul-model');
  mkdirSync(nul);
  writeFileSync(path.join(nul, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['w\u0000.bin'], weights: [] }] }));
  const [random, badPath, stalled] = await Promise.all([
    uap(['eval', '--model', 'mnist', '--data', 'mnist:test', '--random', 'sign']),
    uap(['eval', '--model', nul, '--data', 'mnist:test']),
    uap(['eval', '--model', `${base}/m/model.json`, '--data', 'mnist:test'], { UAP_DOWNLOAD_IDLE_TIMEOUT: '0.3' }),
  ]);
  assert.equal(random.code, 2, random.stderr);
  assert.match(random.stderr, /^uap: --xi: is required with --random/m);
  assert.equal(badPath.code, 6, badPath.stderr);
  assert.match(badPath.stderr, /weight path w\\0\.bin leaves the model folder/);
  assert.ok(!badPath.stderr.includes('\u0000'), 'no raw NUL byte printed');
  assert.equal(stalled.code, 4, stalled.stderr);
  assert.match(stalled.stderr, /^uap: http:\/\/127\.0\.0\.1:\d+\/m\/model\.json: download timed out: no data for 0\.3 s after 9 of 100 bytes$/m);
});

test('uap transfer: --out under a file is refused before any model loads; a failed final write keeps the matrix', { timeout: 120_000 }, async () => {
  const p = path.join(tmp, 'p');
  await savePerturbation(p, new Float32Array(28 * 28).fill(30), [28, 28, 1], record);
  const file = path.join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const args = (out: string) => ['transfer', '--models', 'mnist', '--perturbations', p, '--data', 'mnist:test', '--limit', '20', '--out', out];
  const [under, full] = await Promise.all([uap(args(path.join(file, 'm.json'))), uap(args(path.join(tmp, 'm.json')), { UAP_TEST_FAULT: 'write:ENOSPC@1' })]);
  assert.equal(under.code, 2, under.stderr);
  assert.match(under.stderr, /^uap: --out: .*a-file is a file/m);
  assert.doesNotMatch(under.stderr, /^model:/m, 'refused before the model loaded');
  assert.equal(full.code, 2, full.stderr);
  const m = /the matrix is not lost: it is saved in (\S+) and printed on stdout/.exec(full.stderr);
  assert.ok(m, full.stderr);
  const rescued = JSON.parse(readFileSync(m[1]!, 'utf8')) as { foolingRates: (number | null)[][] };
  assert.equal(typeof rescued.foolingRates[0]![0], 'number');
  assert.deepEqual(JSON.parse(full.stdout), rescued);
  assert.ok(!existsSync(path.join(tmp, 'm.json')));
  rmSync(m[1]!);
});
