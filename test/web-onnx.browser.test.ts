import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '../src/io/npy.js';

/**
 * The web page attacks an ONNX model: the page, built with Vite and opened in headless Chromium, loads
 * an .onnx file written by PyTorch's exporter (src/models/loaders/fixtures/vggish.onnx: NCHW, 32×32×3,
 * 10 classes, preprocessing in the graph) by URL, classifies the image and takes a perturbation. The
 * importer runs in the browser as it does in Node (no Node APIs). Skips without Chromium.
 */

const CHROMIUM = process.env.UAP_CHROMIUM ?? '/usr/bin/chromium';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function serve(root: string, seen: string[]): Promise<Server> {
  const server = createServer(async (req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    seen.push(rel);
    const file = path.join(root, path.posix.normalize(rel === '/' ? '/index.html' : rel));
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const type = file.endsWith('.html') ? 'text/html' : file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'application/octet-stream';
    res.writeHead(200, { 'Content-Type': type });
    res.end(await readFile(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('the web page loads an ONNX model by URL, classifies, and takes a perturbation', { timeout: 90_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set UAP_CHROMIUM)`);
    return;
  }
  const base = await mkdtemp(path.join(tmpdir(), 'uap-web-onnx-'));
  const site = path.join(base, 'site');
  const { build } = await import('vite');
  await build({ configFile: path.join(repo, 'web', 'vite.config.ts'), logLevel: 'error', build: { outDir: site, emptyOutDir: true } });
  await mkdir(path.join(site, 'models', 'onnx'), { recursive: true });
  await copyFile(path.join(repo, 'src/models/loaders/fixtures/vggish.onnx'), path.join(site, 'models', 'onnx', 'vggish.onnx'));
  const npy = path.join(base, 'v.npy');
  await writeFile(npy, writeNpy(new Float32Array(32 * 32 * 3).map((_, i) => (i % 2 ? 60 : -60)), [32, 32, 3]));

  const seen: string[] = [];
  const server = await serve(site, seen);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  const profile = path.join(base, 'profile');
  await mkdir(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(url);
    await page.selectOption('#model-select', 'url');
    await page.fill('#model-url', 'models/onnx/vggish.onnx');
    await page.click('#model-load');
    await page
      .waitForFunction(() => /input 32×32×3, 10 classes/.test(document.getElementById('model-status')?.textContent ?? ''), null, { timeout: 40_000 })
      .catch(async (e: Error) => {
        const shown = await page.evaluate(() => `${document.getElementById('model-status')?.textContent} | ${document.getElementById('error')?.textContent}`);
        throw new Error(`${e.message}; page says: ${shown}; ${problems.join('; ')}`);
      });
    assert.ok(seen.includes('/models/onnx/vggish.onnx.json'), 'the page looked for the sidecar (absent here: a 404 is no error)');
    // A photo from the gallery picker (the page shows predictions for the selected photo).
    const photo = path.join(base, 'photo.png');
    await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 200, g: 80, b: 30 } } }).png().toFile(photo);
    await page.setInputFiles('#photos', [photo]);
    await page.waitForFunction(() => document.querySelectorAll('#pred-clean li').length === 5);
    await page.setInputFiles('#pert-file', npy);
    await page.waitForFunction(() => /^(Fooled|Not fooled)/.test(document.getElementById('verdict')?.textContent ?? ''));
    assert.equal(await page.locator('#pred-pert li').count(), 5);
    assert.deepEqual(problems, []);
    assert.ok(await page.locator('#error').isHidden());
  } finally {
    await context.close();
    server.close();
    await rm(base, { recursive: true, force: true });
  }
});
