import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { writeNpy } from '../src/io/npy.js';
import { saveLayersModel } from '../src/node/save-layers-model.js';

/**
 * The web page, built with Vite and opened in headless Chromium, with a stand-in for the repository's MNIST
 * model (a 28×28×1 → 10 layers model that says "1" when the image is bright, else "0") served at
 * models/mnist/: the page loads it by itself, a perturbation .npy is uploaded, and the predictions on x and
 * on clip(x + v) are shown side by side. Skips without Chromium.
 */

const CHROMIUM = process.env.UAP_CHROMIUM ?? '/usr/bin/chromium';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };

function serve(root: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const file = path.join(root, path.posix.normalize(rel === '/' ? '/index.html' : rel));
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(await readFile(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('the web page: loads the MNIST model, shows clean vs perturbed predictions', { timeout: 60_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set UAP_CHROMIUM)`);
    return;
  }
  const base = await mkdtemp(path.join(tmpdir(), 'uap-web-'));
  const site = path.join(base, 'site');
  const { build } = await import('vite');
  await build({ configFile: path.join(repo, 'web', 'vite.config.ts'), logLevel: 'error', build: { outDir: site, emptyOutDir: true } });
  // The stand-in model (replacing a copied models/mnist, if the build brought one).
  await tf.setBackend('cpu');
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] });
  const w = new Float32Array(784 * 10);
  for (let p = 0; p < 784; p++) w[p * 10 + 1] = 10 / (784 * 255); // logit 1 = 10 · mean brightness
  const b = new Float32Array(10).fill(-5);
  b[0] = 1; // logit 0 = 1
  b[1] = 0;
  model.setWeights([tf.tensor2d(w, [784, 10]), tf.tensor1d(b)]);
  await rm(path.join(site, 'models', 'mnist'), { recursive: true, force: true });
  await saveLayersModel(model, path.join(site, 'models', 'mnist'));
  model.dispose();
  const npy = path.join(base, 'perturbation.npy');
  await writeFile(npy, writeNpy(new Float32Array(784).fill(77), [28, 28, 1]));
  const wrong = path.join(base, 'wrong.npy');
  await writeFile(wrong, writeNpy(new Float32Array(12), [2, 2, 3]));

  const server = await serve(site);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  const profile = path.join(base, 'profile');
  await mkdir(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 1400 },
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/api\/index\.json|404/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('requestfailed', (r) => {
      if (!r.url().endsWith('/api/index.json') && r.method() !== 'HEAD') problems.push(`request failed: ${r.url()}`);
    });
    page.on('response', (r) => {
      // Without uap serve there is no index of local models: the page lists the zoo and probes models/ (HEAD).
      if (r.status() >= 400 && !r.url().endsWith('/api/index.json') && r.request().method() !== 'HEAD') problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    await page.goto(url);
    await page
      .waitForFunction(() => document.getElementById('model-status')?.textContent?.startsWith('mnist:'), null, { timeout: 30_000 })
      .catch(async (e: Error) => {
        const shown = await page.evaluate(() => `${document.getElementById('model-status')?.textContent} | ${document.getElementById('error')?.textContent}`);
        throw new Error(`${e.message}; page says: ${shown}; ${problems.join('; ')}`);
      });
    assert.match((await page.textContent('#model-status'))!, /mnist: input 28×28×1, 10 classes/);
    assert.equal(await page.inputValue('#xi'), '77', 'the MNIST ξ');
    // A blank (black) pad is a "0"; no perturbation yet.
    await page.waitForFunction(() => document.querySelectorAll('#pred-clean li').length === 5);
    assert.equal(await page.textContent('#pred-clean li:first-child .name'), '0');
    assert.match((await page.textContent('#verdict'))!, /Load or compute a perturbation/);

    // +77 everywhere makes it bright: "1".
    await page.setInputFiles('#pert-file', npy);
    await page.waitForFunction(() => document.getElementById('verdict')?.textContent?.startsWith('Fooled'));
    assert.equal(await page.textContent('#verdict'), 'Fooled: “0” became “1”.');
    assert.equal(await page.textContent('#pred-pert li:first-child .name'), '1');
    const grey = await page.$eval('#view-xv', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
      return [d[0], d[1], d[2]];
    });
    assert.deepEqual(grey, [77, 77, 77], 'clip(x + v) is drawn at the model’s size');

    // ξ = 1 (v rescaled to ‖v‖∞ = 1) undoes it.
    await page.$eval('#xi', (el) => {
      (el as HTMLInputElement).value = '1';
      el.dispatchEvent(new Event('input'));
    });
    await page.waitForFunction(() => document.getElementById('verdict')?.textContent?.startsWith('Not fooled'));

    // Drawing a thick stroke changes the clean image.
    const box = (await page.$('#pad'))!;
    const r = (await box.boundingBox())!;
    await page.mouse.move(r.x + 20, r.y + 140);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) await page.mouse.move(r.x + 20 + i * 20, r.y + 140 + (i % 2) * 4);
    await page.mouse.up();
    await page.waitForFunction(() => {
      const d = (document.getElementById('view-x') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
      return d.some((x, i) => i % 4 === 0 && x > 200);
    });

    assert.deepEqual(problems, []);
    // A perturbation of another size is refused with a message, not a crash.
    await page.setInputFiles('#pert-file', wrong);
    await page.waitForSelector('#error:not([hidden])');
    assert.match((await page.textContent('#error'))!, /wrong\.npy: computed at 2×2×3, model takes 28×28×1 — load a perturbation computed for this model$/);
    await page.screenshot({ path: path.join(repo, 'test-output', 'web.png'), fullPage: true });
  } finally {
    await context.close();
    server.close();
    await rm(base, { recursive: true, force: true });
  }
});
