import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { UapError, type UapErrorCode } from '../errors.js';
import type { ModelIO } from '../models/load.js';
import { parseManifest, readWeights } from '../models/loaders/weights.js';
import { ZOO, type ZooEntry } from '../models/zoo.js';
import { loadModel, localFolder, nodeModelIO, repoRoot } from './model-files.js';

/** Model folders on disk and in the cache: symlinks, size caps, what gets cached, the weight-bytes cap. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-mf-'));
let server: http.Server;
let base: string;
const hits: string[] = [];

/** A model.json whose manifest needs `floats` float32 values from w.bin (no topology needed to fail on weights). */
function manifestJson(paths: string[], floats: number): string {
  return JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths, weights: [{ name: 'k', shape: [floats], dtype: 'float32' }] }] });
}

before(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url!);
    if (req.url === '/html/model.json') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body>rate limited</body></html>');
    } else if (req.url === '/short/model.json') {
      res.end(manifestJson(['w.bin'], 4));
    } else if (req.url === '/short/w.bin') {
      res.end(Buffer.alloc(8));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: UapErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('a shard symlinked outside the model folder, or a symlinked subfolder, is refused', async () => {
  const outside = path.join(tmp, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(path.join(outside, 'secret.bin'), Buffer.alloc(16));
  const dir = path.join(tmp, 'm-sym');
  mkdirSync(dir, { recursive: true });
  symlinkSync(path.join(outside, 'secret.bin'), path.join(dir, 'w.bin'));
  symlinkSync(outside, path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'inner.bin'), Buffer.alloc(16));
  symlinkSync('inner.bin', path.join(dir, 'alias.bin'));
  const f = localFolder(dir);
  await rejectsWith(f.read('w.bin'), 'SECURITY', /symlink that leaves the model folder/);
  await rejectsWith(f.read('sub/secret.bin'), 'SECURITY', /symlink that leaves the model folder/);
  assert.equal((await f.read('alias.bin')).length, 16, 'a symlink inside the folder is fine');
  // through loadModel too
  writeFileSync(path.join(dir, 'model.json'), manifestJson(['w.bin'], 4));
  await rejectsWith(loadModel(dir), 'SECURITY', /w\.bin is a symlink/);
  // the zoo's folders follow the same rule
  const mirror = path.join(tmp, 'mirror-sym');
  mkdirSync(path.join(mirror, 'tiny'), { recursive: true });
  symlinkSync(path.join(outside, 'secret.bin'), path.join(mirror, 'tiny', 'w.bin'));
  const entry: ZooEntry = { ...ZOO[0]!, name: 'tiny', dir: 'tiny', url: null };
  await rejectsWith(nodeModelIO({ modelsDir: mirror, cacheDir: path.join(tmp, 'c-sym') }).zoo(entry).read('w.bin'), 'SECURITY', /symlink/);
});

test('local reads are bounded: /dev/zero, a file over the cap and a directory are refused before reading', async () => {
  const dir = path.join(tmp, 'm-dev');
  mkdirSync(path.join(dir, 'adir'), { recursive: true });
  writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(2000));
  const f = localFolder(dir, 1000);
  await rejectsWith(f.read('big.bin'), 'SECURITY', /2000 bytes, over the 1000-byte limit/);
  await rejectsWith(f.read('adir'), 'BAD_MODEL', /is a directory/);
  await rejectsWith(localFolder('/dev').read('zero'), 'BAD_MODEL', /not a regular file/);
});

test('a zoo download is checked before it is cached: an HTML error page is refused and never cached', async () => {
  const cacheDir = path.join(tmp, 'c-html');
  const entry: ZooEntry = { ...ZOO[0]!, name: 'html', dir: 'html', url: `${base}/html/model.json` };
  await rejectsWith(loadModel('mobilenet_v1_0.25_224', { io: { zoo: () => nodeModelIO({ cacheDir }).zoo(entry), open: () => Promise.reject(new Error('no')) } }), 'BAD_MODEL', /not valid JSON.*<!DOCTYPE html>.*not cached/);
  assert.ok(!existsSync(path.join(cacheDir, 'html')), 'nothing cached');
  // a model whose shard is truncated: nothing cached either (model.json included)
  const short: ZooEntry = { ...ZOO[0]!, name: 'short', dir: 'short', url: `${base}/short/model.json` };
  const io = { zoo: () => nodeModelIO({ cacheDir }).zoo(short), open: () => Promise.reject(new Error('no')) };
  await rejectsWith(loadModel('mobilenet_v1_0.25_224', { io }), 'BAD_MODEL', /truncated/);
  assert.ok(!existsSync(path.join(cacheDir, 'short')), 'nothing cached');
});

test('a broken cached model.json is reported naming the cached file', async () => {
  const cacheDir = path.join(tmp, 'c-broken');
  mkdirSync(path.join(cacheDir, 'b'), { recursive: true });
  const cached = path.join(cacheDir, 'b', 'model.json');
  writeFileSync(cached, '<html>oops</html>');
  const entry: ZooEntry = { ...ZOO[0]!, name: 'b', dir: 'b', url: `${base}/b/model.json` };
  await assert.rejects(nodeModelIO({ cacheDir }).zoo(entry).read('model.json'), (e: unknown) => {
    assert.ok(e instanceof UapError && e.code === 'BAD_MODEL');
    assert.ok(e.message.startsWith(`${cached}: `), e.message);
    assert.match(e.message, /delete it/);
    return true;
  });
});

test('weights: a manifest repeating one shard, or needing more than the cap, is refused before any read', async () => {
  let reads = 0;
  const reader = async () => {
    reads++;
    return new Uint8Array(16);
  };
  const repeated = Array.from({ length: 1500 }, () => 'w.bin');
  await assert.rejects(
    async () => readWeights(parseManifest([{ paths: repeated, weights: [{ name: 'k', shape: [4 * 1500], dtype: 'float32' }] }], 'm'), reader, 'm'),
    (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL' && /more than once/.test(e.message),
  );
  const huge = parseManifest([{ paths: ['a', 'b'], weights: [{ name: 'k', shape: [1024, 1024, 1024], dtype: 'float32' }] }], 'm');
  await assert.rejects(readWeights(huge, reader, 'm'), (e: unknown) => e instanceof UapError && /over the \d+-byte limit/.test(e.message));
  const small = parseManifest([{ paths: ['a', 'b', 'c'], weights: [{ name: 'k', shape: [4], dtype: 'float32' }] }], 'm');
  await assert.rejects(readWeights(small, reader, 'm', { maxTotalBytes: 8 }), /over the 8-byte limit/);
  assert.equal(reads, 0);
  // a group whose shards hold more than it needs stops reading at the first shard past it
  await assert.rejects(readWeights(small, reader, 'm'), /shard b is too long/);
  assert.equal(reads, 2);
});

test('property: parseManifest + readWeights on random manifests only ever throw UapError and read at most the cap', async () => {
  const dim = fc.oneof(fc.nat(8), fc.constant(1 << 30), fc.constant(-1), fc.constant(1.5), fc.constant(Number.MAX_SAFE_INTEGER));
  const weight = fc.record({
    name: fc.oneof(fc.string(), fc.constant(3)),
    shape: fc.oneof(fc.array(dim, { maxLength: 4 }), fc.constant('x')),
    dtype: fc.constantFrom('float32', 'int32', 'uint8', 'float16', 'complex64', 7),
    quantization: fc.option(fc.record({ dtype: fc.constantFrom('uint8', 'uint16', 'float16', 'x'), scale: fc.double(), min: fc.double() }), { nil: undefined }),
  });
  const group = fc.record({ paths: fc.oneof(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 6 }), fc.constant([1])), weights: fc.array(weight, { maxLength: 4 }) });
  const manifest = fc.oneof(fc.array(group, { maxLength: 3 }), fc.anything());
  await fc.assert(
    fc.asyncProperty(manifest, fc.nat(64), async (m, shardLen) => {
      let bytes = 0;
      const reader = async () => {
        bytes += shardLen;
        return new Uint8Array(shardLen);
      };
      try {
        await readWeights(parseManifest(m, 'm'), reader, 'm', { maxTotalBytes: 4096 });
      } catch (e) {
        assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
      }
      assert.ok(bytes <= 4096 + 64, `read ${bytes} bytes`);
    }),
    { numRuns: 300 },
  );
});

test('property: a mutated model.json (MNIST) loads or is refused with one UapError, never a crash', async () => {
  await tf.setBackend('cpu');
  const text = readFileSync(path.join(repoRoot, 'models/mnist/model.json'), 'utf8');
  const weights = new Uint8Array(readFileSync(path.join(repoRoot, 'models/mnist/weights.bin')));
  const json = JSON.parse(text) as unknown;
  const places: (string | number)[][] = [];
  (function walk(o: unknown, p: (string | number)[]) {
    if (p.length) places.push(p);
    if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) walk(v, [...p, Array.isArray(o) ? Number(k) : k]);
  })(json, []);
  const io = (bytes: Uint8Array): ModelIO => ({
    zoo: () => {
      throw new Error('unused');
    },
    open: async () => ({ folder: { name: 'mem', read: async (r: string) => (r === 'model.json' ? bytes : weights) }, file: 'model.json' }),
  });
  const tryLoad = async (bytes: Uint8Array, what: string) => {
    try {
      (await loadModel('mem/model.json', { io: io(bytes) })).dispose();
    } catch (e) {
      assert.ok(e instanceof UapError, `${what}: not a UapError: ${String(e)}`);
    }
  };
  // a value anywhere in the tree replaced by anything
  await fc.assert(
    fc.asyncProperty(fc.nat(places.length - 1), fc.anything(), async (i, value) => {
      const j = structuredClone(json) as Record<string | number, unknown>;
      const p = places[i]!;
      let o = j;
      for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
      o[p.at(-1)!] = value;
      await tryLoad(new TextEncoder().encode(JSON.stringify(j)), `${p.join('.')} = ${JSON.stringify(value)}`);
    }),
    { numRuns: 150 },
  );
  // the bytes cut or overwritten
  const bytes = new TextEncoder().encode(text);
  await fc.assert(
    fc.asyncProperty(fc.nat(bytes.length), fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), async (cut, edits) => {
      const b = bytes.slice(0, cut);
      for (const [at, v] of edits) if (at < b.length) b[at] = v;
      await tryLoad(b, `cut at ${cut}, edits ${JSON.stringify(edits)}`);
    }),
    { numRuns: 100 },
  );
});
