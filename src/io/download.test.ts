import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { UapError, type UapErrorCode } from '../errors.js';
import { urlFolder } from '../models/load.js';
import { download } from './download.js';

/**
 * Fault injection for the download helper: a server on 127.0.0.1 that never answers, drips, stalls after the
 * headers, cuts the connection mid-body, streams past the size cap and redirects across origins. Limits are
 * injected small (0.2–0.5 s), so a hang shows up as the test's own timeout, not as a slow suite.
 */

const sockets = new Set<Socket>();
const timers = new Set<ReturnType<typeof setInterval>>();
let a: http.Server;
let b: http.Server;
let A: string;
let B: string;

function listen(handler: http.RequestListener): Promise<[http.Server, string]> {
  const s = http.createServer(handler);
  s.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r([s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`])));
}

before(async () => {
  [b, B] = await listen((req, res) => {
    if (req.url === '/w.bin') {
      res.writeHead(200, { 'content-length': 4 });
      res.end('BBBB');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  [a, A] = await listen((req, res) => {
    const u = req.url!;
    if (u === '/silent') return; // accepts, never answers
    if (u === '/drip') {
      res.writeHead(200, { 'content-length': 1000 });
      const t = setInterval(() => res.write('x'), 40);
      timers.add(t);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (u === '/stall') {
      res.writeHead(200, { 'content-length': 100 });
      res.write('0123456789');
      return;
    }
    if (u === '/cut') {
      res.writeHead(200, { 'content-length': 100 });
      res.write('0123456789', () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (u === '/cut-chunked') {
      res.writeHead(200);
      res.write('0123456789', () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (u === '/big-chunked') {
      res.writeHead(200);
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000, 1));
      res.end();
      return;
    }
    if (u === '/ok') {
      res.writeHead(200, { 'content-length': 2 });
      res.end('ok');
      return;
    }
    if (u === '/m/w.bin') {
      res.writeHead(302, { location: `${B}/w.bin` }); // a shard sent to another origin
      res.end();
      return;
    }
    if (u === '/m/model.json') {
      res.writeHead(200, { 'content-length': 2 });
      res.end('{}');
      return;
    }
    if (u === '/moved/model.json') {
      res.writeHead(302, { location: `${B}/model.json` });
      res.end();
      return;
    }
    if (u === '/loop') {
      res.writeHead(302, { location: '/loop' });
      res.end();
      return;
    }
    if (u === '/file-scheme') {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  });
});

after(() => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  a.close();
  b.close();
});

async function rejectsWith(p: Promise<unknown>, code: UapErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

const fast = { timeoutMs: 2000, idleTimeoutMs: 200 };

test('a server that never answers: timed out, saying so', { timeout: 5000 }, async () => {
  await rejectsWith(download(`${A}/silent`, fast), 'NOT_FOUND', /timed out: no answer for 0\.2 s/);
});

test('a slow drip hits the total deadline', { timeout: 5000 }, async () => {
  await rejectsWith(download(`${A}/drip`, { timeoutMs: 400, idleTimeoutMs: 200 }), 'NOT_FOUND', /timed out after 0\.4 s \(\d+ of 1000 bytes received\)/);
});

test('a stall after the headers hits the idle timeout', { timeout: 5000 }, async () => {
  await rejectsWith(download(`${A}/stall`, fast), 'NOT_FOUND', /no data for 0\.2 s after 10 of 100 bytes/);
});

test('a connection closed mid-body is one clear error (no uncaught TypeError: terminated)', { timeout: 5000 }, async () => {
  await rejectsWith(download(`${A}/cut`, fast), 'NOT_FOUND', /connection closed after 10 of 100 bytes/);
  await rejectsWith(download(`${A}/cut-chunked`, fast), 'NOT_FOUND', /connection closed after 10 bytes/);
});

test('the size cap holds without a Content-Length too', { timeout: 5000 }, async () => {
  await rejectsWith(download(`${A}/big-chunked`, { ...fast, maxBytes: 5000 }), 'SECURITY', /over the 5000-byte limit/);
  assert.equal((await download(`${A}/big-chunked`, { ...fast, maxBytes: 10000 })).bytes.length, 10000);
});

test('redirects: each hop is checked; a shard sent to another origin is refused', { timeout: 5000 }, async () => {
  const folder = urlFolder(`${A}/m/model.json`, fast);
  assert.equal(new TextDecoder().decode(await folder.read('model.json')), '{}');
  await rejectsWith(folder.read('w.bin'), 'SECURITY', /another origin/);
  // a main file that moved: the origin it moved to is the model's origin from then on
  const moved = urlFolder(`${A}/moved/model.json`, fast);
  await rejectsWith(moved.read('model.json'), 'NOT_FOUND', /HTTP 404 from .*\/model\.json/);
  assert.equal(new TextDecoder().decode(await moved.read(`${B}/w.bin`)), 'BBBB');
  await rejectsWith(download(`${A}/loop`, fast), 'NOT_FOUND', /more than 5 redirects/);
  await rejectsWith(download(`${A}/file-scheme`, fast), 'SECURITY', /only http\(s\) is followed/);
});

test('cancelling through a signal ends the download at once', { timeout: 5000 }, async () => {
  const c = new AbortController();
  setTimeout(() => c.abort(), 50);
  await rejectsWith(download(`${A}/silent`, { ...fast, idleTimeoutMs: 10_000, signal: c.signal }), 'INTERRUPTED', /cancelled/);
  assert.equal(new TextDecoder().decode((await download(`${A}/ok`, fast)).bytes), 'ok');
});
