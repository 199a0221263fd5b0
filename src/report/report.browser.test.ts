import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { collectReportData } from '../node/report-files.js';
import { HOSTILE, writeReportFixture } from '../node/testing/report-fixture.js';
import { renderReport } from './html.js';

/**
 * The report in a real browser: a synthetic folder of runs → uap report's page → headless Chromium.
 * Every image decodes, every chart draws ink, nothing is requested from anywhere, no console error,
 * and markup in labels stays text. Saves test-output/report.png; docs/report-screenshot.png is written when
 * missing or when UAP_UPDATE_SCREENSHOT=1.
 */

const CHROMIUM = process.env.UAP_CHROMIUM ?? '/usr/bin/chromium';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the report renders offline in headless Chromium', { timeout: 60_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set UAP_CHROMIUM)`);
    return;
  }
  const { chromium } = await import('playwright-core');
  await tf.setBackend('cpu');
  const base = await mkdtemp(path.join(tmpdir(), 'uap-report-browser-'));
  const profile = path.join(base, 'profile');
  await mkdir(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 900 },
  });
  try {
    const open = async (dir: string) => {
      const file = path.join(base, `${path.basename(dir)}.html`);
      const data = await collectReportData(dir);
      data.root = path.basename(dir); // what the screenshot shows, rather than a temporary path
      await writeFile(file, renderReport(data));
      const page = await context.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url().slice(0, 80)} ${r.failure()?.errorText}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      return { page, problems, requests, url: pathToFileURL(file).href };
    };

    // 1. The plain fixture.
    const plain = path.join(base, 'results');
    await writeReportFixture(plain);
    const { page, problems, requests, url } = await open(plain);
    const images = await page.$$eval('img', (els) =>
      els.map((e) => ({ alt: e.getAttribute('alt'), complete: e.complete, w: e.naturalWidth, h: e.naturalHeight, shown: e.getBoundingClientRect().width })),
    );
    assert.equal(images.length, 2 * 2 + 6 * 2, 'two perturbations (gallery and card) and six clean/perturbed pairs');
    for (const im of images) {
      assert.ok(im.complete && im.w > 0 && im.h > 0, `image ${im.alt} did not decode`);
      assert.ok(im.shown >= im.w, `image ${im.alt} shown smaller than its pixels`);
    }
    const charts = await page.$$('svg.chart');
    // Two per-pass histories, the sweep, the singular values, the subspace fooling rates, the dominant labels.
    assert.equal(charts.length, 6);
    for (const chart of charts) {
      const info = await chart.evaluate((s) => ({
        label: s.getAttribute('aria-label'),
        children: s.childElementCount,
        marks: s.querySelectorAll('path, rect[width]:not([x="0"]), circle').length,
        w: s.getBoundingClientRect().width,
      }));
      assert.ok(info.children > 3 && info.marks > 0 && info.w > 100, `chart ${info.label} is empty`);
      // Ink: the rendered chart has a good share of non-white pixels, in more than one colour.
      const png = PNG.sync.read(await chart.screenshot());
      let ink = 0;
      const colours = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) {
        const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
        if (r < 235 || g < 235 || b < 235) {
          ink++;
          colours.add(((r >> 5) << 6) | ((g >> 5) << 3) | (b >> 5));
        }
      }
      assert.ok(ink / (png.width * png.height) > 0.01 && colours.size > 2, `chart ${info.label} drew almost nothing`);
    }
    const heat = await page.$$eval('td.heat', (els) => els.map((e) => getComputedStyle(e).backgroundColor));
    assert.equal(heat.length, 16);
    assert.ok(new Set(heat).size > 5, 'heat-map cells are coloured by value');
    assert.deepEqual(problems, []);
    assert.deepEqual([...new Set(requests.filter((u) => !u.startsWith('data:')))], [url], 'nothing but the page itself is requested');
    const text = await page.textContent('body');
    assert.ok(text!.includes('tench & "trout" <fish>'), 'labels are shown as written');
    assert.ok(text!.includes('share of images whose top-1 label on clip(x + v) differs'));

    const shot = path.join(repo, 'test-output', 'report.png');
    await mkdir(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    const docs = path.join(repo, 'docs', 'report-screenshot.png');
    if (!existsSync(docs) || process.env.UAP_UPDATE_SCREENSHOT === '1') {
      // The top of the page (intro, summary, first runs) at half size, palette PNG: small enough to commit.
      await page.setViewportSize({ width: 1200, height: 2200 });
      await page.evaluate(() => window.scrollTo(0, 0));
      const top = await page.screenshot({ fullPage: false });
      await mkdir(path.dirname(docs), { recursive: true });
      await sharp(top).resize({ width: 760 }).png({ palette: true, quality: 90, compressionLevel: 9 }).toFile(docs);
    }
    await page.close();

    // 2. Markup in labels and file names.
    await writeReportFixture(path.join(base, 'hostile'), { hostile: true });
    const bad = await open(path.join(base, 'hostile'));
    assert.notEqual(await bad.page.title(), 'pwned');
    assert.equal(await bad.page.$$eval('script', (s) => s.length), 0);
    assert.ok((await bad.page.textContent('body'))!.includes(HOSTILE), 'the label is shown literally');
    assert.deepEqual(bad.problems, []);
  } finally {
    await context.close();
    await rm(base, { recursive: true, force: true });
  }
});
