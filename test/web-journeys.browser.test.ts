import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { BrowserContext, Page } from 'playwright-core';
import { writeNpy } from '../src/index.js';
import { safeFile } from '../src/cli/serve.js';

/**
 * The web page's journeys in headless Chromium, against `uap serve` (the CLI, a child process) with the shared
 * models (--models-dir) and the paper authors' perturbations (--perturbations): list → ImageNet model → dropped
 * photo → predictions; a served perturbation → fooled or not, both top-5s; the ξ slider; computing v on 8 photos;
 * the download at the photo's size; the fake webcam; every bad input; the keyboard. And the page against
 * `uap classify`: the same top-1 on 20 photos of val.txt (and on their full-size originals, which need resampling).
 * Skips without Chromium or ../shared. Screenshots go to test-output/screenshots/ (docs/screenshots/ with
 * UAP_SCREENSHOTS=docs).
 */

const CHROMIUM = process.env.UAP_CHROMIUM ?? '/usr/bin/chromium';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.UAP_SHARED ?? path.resolve(repo, '../shared');
const MODEL = 'mobilenet_v1_0.25_224';
const skip = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium, or set UAP_CHROMIUM)`
  : !existsSync(path.join(SHARED, 'models', MODEL))
    ? `no ${MODEL} under ${SHARED}/models`
    : false;
const shotDir = path.join(repo, process.env.UAP_SCREENSHOTS === 'docs' ? 'docs/screenshots' : 'test-output/screenshots');

const valList = path.join(SHARED, 'imagenet-sample', 'val.txt');
const valPhotos = (n: number): string[] =>
  readFileSync(valList, 'utf8')
    .trim()
    .split('\n')
    .slice(0, n)
    .map((f) => path.resolve(path.dirname(valList), f.trim()));
const original = (f: string) => path.join(SHARED, 'imagenet-sample', 'originals', path.basename(f));

let server: ChildProcess;
let url = '';
let context: BrowserContext;
let base = '';

async function startServe(): Promise<string> {
  server = spawn(
    process.execPath,
    [path.join(repo, 'bin', 'uap.js'), 'serve', '--port', '0', '--models-dir', path.join(SHARED, 'models'), '--perturbations', path.join(SHARED, 'perturbations')],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UAP_CACHE: path.join(base, 'cache') } },
  );
  let err = '';
  server.stderr!.on('data', (d) => (err += String(d)));
  return new Promise((resolve, reject) => {
    server.stdout!.on('data', (d) => {
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(String(d));
      if (m) resolve(m[1]!);
    });
    server.on('exit', (code) => reject(new Error(`uap serve exited ${code}: ${err}`)));
  });
}

/** A fresh page with the model loaded (by ?model=, wasm backend) and every page error collected. */
async function openPage(query = `?backend=wasm&model=${MODEL}`, expect = MODEL): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(url + query);
  await page.waitForFunction((name) => document.getElementById('model-status')?.textContent?.startsWith(`${name}:`), expect, { timeout: 60_000 }).catch(async (e: Error) => {
    throw new Error(`${e.message}; page says: ${await page.textContent('#model-status')} | ${await page.textContent('#error')}; ${problems.join('; ')}`);
  });
  return { page, problems };
}

async function shot(page: Page, name: string): Promise<void> {
  await mkdir(shotDir, { recursive: true });
  await page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true });
}

/** Drops files on an element as a user's drag and drop does (a DataTransfer with File objects). */
async function dropFiles(page: Page, selector: string, files: string[]): Promise<void> {
  const payload = files.map((f) => ({ name: path.basename(f), b64: readFileSync(f).toString('base64') }));
  await page.$eval(
    selector,
    (el, items) => {
      const dt = new DataTransfer();
      for (const { name, b64 } of items) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        dt.items.add(new File([bytes], name, { type: name.endsWith('.png') ? 'image/png' : 'image/jpeg' }));
      }
      el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    payload,
  );
}

const classified = (page: Page, n: number) =>
  page.waitForFunction((k) => document.querySelectorAll('#gallery li[data-clean]:not([data-clean=""])').length === k, n, { timeout: 60_000 });

const galleryTop1 = (page: Page) =>
  page.$$eval('#gallery li', (lis) => lis.map((li) => ({ clean: Number((li as HTMLElement).dataset.clean), pert: (li as HTMLElement).dataset.pert })));

async function errorText(page: Page): Promise<string> {
  await page.waitForSelector('#error:not([hidden])');
  return (await page.textContent('#error'))!;
}

describe('the web page in Chromium, served by uap serve', { skip, timeout: 240_000 }, () => {
  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'uap-journeys-'));
    // The page as it is now (uap serve builds web/dist only when it is missing).
    const { build } = await import('vite');
    await build({ configFile: path.join(repo, 'web', 'vite.config.ts'), logLevel: 'error' });
    url = await startServe();
    const { chromium } = await import('playwright-core');
    await mkdir(path.join(base, 'profile'));
    context = await chromium.launchPersistentContext(path.join(base, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
      ],
      viewport: { width: 1100, height: 1300 },
    });
  });

  after(async () => {
    await context?.close();
    server?.kill();
    if (base) await rm(base, { recursive: true, force: true });
  });

  test('serve: 127.0.0.1 only, cross-origin isolated, an index of local models and perturbations, no path escapes', async () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const index = (await (await fetch(`${url}api/index.json`)).json()) as { models: Array<{ name: string; url: string; reference?: unknown }>; perturbations: Array<{ name: string; shape: number[] }> };
    const names = index.models.map((m) => m.name);
    assert.ok(names.includes(MODEL) && names.includes('mnist'), names.join(', '));
    assert.ok(index.models.find((m) => m.name === MODEL)!.reference, 'measured accuracy in the index');
    assert.ok(index.perturbations.some((p) => p.name === 'lts4/vgg-16' && p.shape.join('x') === '224x224x3'));
    const model = await fetch(`${url}${index.models.find((m) => m.name === MODEL)!.url}`);
    assert.equal(model.status, 200);
    for (const bad of ['models/mnist/..%2f..%2fpackage.json', 'perturbations/..%2f..%2fREADME.md', 'models/nope/model.json', '%2e%2e/package.json', 'index.html%00']) {
      assert.equal((await fetch(url + bad)).status, 404, bad);
    }
    // A symlink out of a root is refused once resolved; one inside is followed.
    const root = path.join(base, 'root');
    await mkdir(root);
    await writeFile(path.join(base, 'secret.txt'), 'x');
    await writeFile(path.join(root, 'ok.txt'), 'y');
    await symlink(path.join(base, 'secret.txt'), path.join(root, 'out.txt'));
    await symlink(path.join(root, 'ok.txt'), path.join(root, 'in.txt'));
    assert.equal(await safeFile(root, 'out.txt'), undefined);
    assert.equal(await safeFile(root, '../secret.txt'), undefined);
    assert.ok((await safeFile(root, 'in.txt'))?.endsWith('ok.txt'));
  });

  test('list → load an ImageNet model → drop a photo → predictions; a served perturbation → fooled or not, both top-5s; ξ changes x + v', async () => {
    const { page, problems } = await openPage('?backend=wasm', 'mnist');
    assert.match((await page.textContent('#backend-status'))!, /Backend: wasm \(.*cross-origin isolated\)/);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    const options = await page.$$eval('#model-select option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.ok(options.includes(MODEL) && options.includes('url'), options.join(', '));
    const groups = await page.$$eval('#model-select optgroup', (gs) => gs.map((g) => (g as HTMLOptGroupElement).label));
    assert.ok(groups.includes('TF.js layers') && groups.includes('TF.js graph') && groups.includes('TFLite'), groups.join(', '));
    assert.match((await page.textContent('#xi-hint'))!, /77.*white on black/);
    await page.selectOption('#model-select', MODEL);
    await page.click('#model-load');
    await page.waitForFunction((m) => document.getElementById('model-status')?.textContent?.startsWith(`${m}:`), MODEL);
    const status = (await page.textContent('#model-status'))!;
    assert.match(status, /input 224×224×3, 1000 classes/);
    assert.match(status, /preprocessing p\/127\.5 − 1/);
    assert.match(status, /measured top-1 58\.5%/);
    assert.equal(await page.inputValue('#xi'), '10', 'ξ follows the model');
    assert.equal(await page.isVisible('#pad'), false, 'no drawing pad for ImageNet');

    const photo = valPhotos(2)[1]!; // the robin
    await dropFiles(page, '#drop', [photo]);
    await classified(page, 1);
    await page.waitForFunction(() => document.querySelectorAll('#pred-clean li').length === 5);
    assert.match((await page.textContent('#gallery-stats'))!, /1 photo · accuracy on the 1 labelled/);
    await shot(page, '1-photo-predictions');

    await page.selectOption('#pert-list', { label: 'lts4/vgg-16 (224×224×3)' });
    await page.waitForFunction(() => /^(Fooled|Not fooled)/.test(document.getElementById('verdict')?.textContent ?? ''));
    assert.equal(await page.$$eval('#pred-clean li', (l) => l.length), 5);
    assert.equal(await page.$$eval('#pred-pert li', (l) => l.length), 5);
    assert.match((await page.textContent('#pert-status'))!, /paper authors/);
    assert.match((await page.textContent('#gallery-stats'))!, /fooling rate (0|100)\.0% \(\d of 1\)/);
    const pixels = () => page.$eval('#view-xv', (c) => Array.from((c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 224, 224).data.slice(0, 4000)));
    const before10 = await pixels();
    await shot(page, '2-served-perturbation');
    await page.$eval('#xi', (el) => {
      (el as HTMLInputElement).value = '40';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForFunction(() => document.getElementById('xi-out')?.textContent === '40');
    await page.waitForFunction(
      (old) => {
        const d = (document.getElementById('view-xv') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 224, 224).data.slice(0, 4000);
        return d.some((x, i) => x !== old[i]);
      },
      before10,
    );
    const after40 = await pixels();
    const diff = after40.reduce((s, x, i) => s + Math.abs(x - before10[i]!), 0) / after40.length;
    assert.ok(diff > 5, `x + v changed by ${diff.toFixed(1)} on average`);
    await shot(page, '3-xi-40');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the page and uap classify give the same top-1 on 20 photos of val.txt, and on their full-size originals', async () => {
    const photos = valPhotos(20);
    const originals = photos.map(original).filter((f) => existsSync(f));
    const files = [...photos, ...originals];
    const { page } = await openPage();
    await page.setInputFiles('#photos', files);
    await classified(page, files.length);
    const inPage = await galleryTop1(page);
    const cli = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [path.join(repo, 'bin', 'uap.js'), 'classify', '--model', MODEL, '--models-dir', path.join(SHARED, 'models'), '--top', '1', '--json', ...files], {
        env: { ...process.env, UAP_CACHE: path.join(base, 'cache') },
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += String(d)));
      p.stderr.on('data', (d) => (err += String(d)));
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`uap classify exited ${code}: ${err}`))));
    });
    const results = (JSON.parse(cli) as { results: Array<{ top: Array<{ index: number }> }> }).results;
    const disagree = files.filter((_, i) => inPage[i]!.clean !== results[i]!.top[0]!.index).map((f) => path.relative(SHARED, f));
    console.log(`page vs uap classify, top-1: ${files.length - disagree.length} of ${files.length} agree (${photos.length} val photos + ${originals.length} originals)`);
    assert.deepEqual(disagree, [], 'photos where the page and the CLI differ');
    assert.ok(originals.length >= 20, 'the originals (resampled, not only cropped) were compared too');
    await shot(page, '4-gallery-40');
    await page.close();
    // The page's own choice of backend (webgl when Chromium has it, here SwiftShader), on the 20 val photos.
    const other = await openPage(`?model=${MODEL}`);
    const backend = (await other.page.textContent('#backend-status'))!;
    await other.page.setInputFiles('#photos', photos);
    await classified(other.page, photos.length);
    const byDefault = await galleryTop1(other.page);
    const differ = photos.filter((_, i) => byDefault[i]!.clean !== results[i]!.top[0]!.index).map((f) => path.basename(f));
    console.log(`page (${backend}) vs uap classify: ${photos.length - differ.length} of ${photos.length} agree`);
    assert.deepEqual(differ, []);
    await other.page.close();
  });

  test('computing v in the page on 8 photos reaches a fooling rate; the page stays responsive; Stop stops', async () => {
    const { page } = await openPage();
    await page.setInputFiles('#photos', valPhotos(8));
    await classified(page, 8);
    await page.fill('#epochs', '3');
    await page.click('#compute');
    await page.waitForFunction(() => document.getElementById('compute-status')?.textContent?.startsWith('Done'), null, { timeout: 120_000 });
    const status = (await page.textContent('#compute-status'))!;
    const rate = Number(await page.$eval('#compute-status', (e) => (e as HTMLElement).dataset.foolingRate));
    const gap = Number(await page.$eval('#compute-status', (e) => (e as HTMLElement).dataset.frameGapMs));
    console.log(`computed in the page on 8 photos: ${status}`);
    assert.ok(rate >= 0.5, `fooling rate on the 8 photos ${rate}`);
    assert.ok(gap > 0, 'the longest frame gap was measured');
    assert.equal(await page.$eval('#compute-progress', (p) => (p as HTMLProgressElement).value), 1);
    await page.waitForFunction(() => /fooling rate \d/.test(document.getElementById('gallery-stats')?.textContent ?? ''));
    await shot(page, '5-computed');
    // Stop during a long run: it ends early, with a message, and the page still answers.
    await page.fill('#epochs', '50');
    await page.click('#compute');
    await page.waitForFunction(() => /^Epoch/.test(document.getElementById('compute-status')?.textContent ?? ''));
    await page.click('#compute-stop');
    await page.waitForFunction(() => document.getElementById('compute-status')?.textContent?.startsWith('Done'), null, { timeout: 60_000 });
    assert.match((await page.textContent('#compute-status'))!, /stopped after \d+ complete epoch/);
    assert.equal(await page.isEnabled('#compute'), true);
    await page.close();
  });

  test('apply and download: the perturbed photo at its own full size, PNG and JPEG', async () => {
    const photo = original(valPhotos(2)[1]!); // the robin, 500×375
    const meta = await sharp(photo).metadata();
    const { page } = await openPage();
    await page.setInputFiles('#photos', [photo]);
    await classified(page, 1);
    await page.selectOption('#pert-list', { label: 'lts4/vgg-16 (224×224×3)' });
    await page.waitForFunction(() => /^(Fooled|Not fooled)/.test(document.getElementById('verdict')?.textContent ?? ''));
    for (const [button, format] of [['#download-jpeg', 'jpeg'], ['#download-png', 'png']] as const) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
      const file = path.join(base, download.suggestedFilename());
      await download.saveAs(file);
      const got = await sharp(file).metadata();
      assert.equal(got.format, format);
      assert.deepEqual([got.width, got.height], [meta.width, meta.height], `${format} has the photo's size`);
      const [a, b] = await Promise.all([sharp(photo).raw().toBuffer(), sharp(file).removeAlpha().raw().toBuffer()]);
      let d = 0;
      for (let i = 0; i < a.length; i += 97) d += Math.abs(a[i]! - b[i]!);
      assert.ok(d / (a.length / 97) > 3, 'the perturbation is in the file');
    }
    assert.match((await page.textContent('#download-status'))!, new RegExp(`${meta.width}×${meta.height}, the photo’s own size; pixels changed by at most 10\\.0`));
    await shot(page, '6-download');
    await page.close();
  });

  test('the webcam (Chromium fake camera): the perturbation added live, frames per second shown', async () => {
    const { page } = await openPage();
    await page.click('#pert-random');
    await page.click('#webcam-start');
    await page.waitForFunction(() => Number((document.getElementById('fps') as HTMLElement).dataset.fps) > 0, null, { timeout: 30_000 });
    const fps = Number(await page.$eval('#fps', (e) => (e as HTMLElement).dataset.fps));
    console.log(`webcam: ${fps.toFixed(1)} fps`);
    assert.ok(fps > 0);
    assert.match((await page.textContent('#webcam-caption'))!, /x: .* · clip\(x \+ v\): /);
    await shot(page, '7-webcam');
    await page.click('#webcam-stop');
    assert.equal(await page.isEnabled('#webcam-start'), true);
    await page.close();
  });

  test('every bad input: one readable message, stale results and "Loading…" cleared, and the page keeps working', async () => {
    // A real perturbation.npy + .json from uap compute (MNIST, small), loaded at the end.
    const computed = path.join(base, 'computed');
    const compute = new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, [path.join(repo, 'bin', 'uap.js'), 'compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '200', '--method', 'sgd', '--norm', 'inf', '--xi', '77', '--max-passes', '2', '--out', computed], { stdio: 'ignore' });
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`uap compute exited ${code}`))));
    });
    const { page } = await openPage();
    const text = path.join(base, 'notes.jpg');
    await writeFile(text, 'not an image');
    const wrong = path.join(base, 'wrong.npy');
    await writeFile(wrong, writeNpy(new Float32Array(12), [2, 2, 3]));
    // A non-image beside a good photo: one message, the good one is added.
    await page.setInputFiles('#photos', [text, valPhotos(1)[0]!]);
    assert.match(await errorText(page), /^notes\.jpg: not an image this browser can decode .*; 1 photo added$/);
    await classified(page, 1);
    // A perturbation of the wrong size.
    await page.click('#pert-random');
    await page.waitForFunction(() => document.querySelectorAll('#pred-pert li').length === 5);
    await page.setInputFiles('#pert-file', wrong);
    await page.waitForFunction(() => /wrong\.npy/.test(document.getElementById('error')?.textContent ?? ''));
    assert.match((await page.textContent('#error'))!, /^wrong\.npy: computed at 2×2×3, model takes 224×224×3 — load a perturbation computed for this model$/);
    assert.equal(await page.$$eval('#pred-pert li', (l) => l.length), 0, 'the stale perturbed predictions are gone');
    assert.equal(await page.textContent('#pert-status'), 'No perturbation loaded.');
    // Dropped on the gallery, a .npy is a perturbation, not a bad photo.
    const good = path.join(base, 'good.npy');
    await writeFile(good, writeNpy(new Float32Array(224 * 224 * 3).fill(-3), [224, 224, 3]));
    await dropFiles(page, '#drop', [good]);
    await page.waitForFunction(() => /^good\.npy: 224×224×3, ‖v‖∞ = 3\.0\.$/.test(document.getElementById('pert-status')?.textContent ?? ''));
    assert.equal(await page.$$eval('#gallery li', (l) => l.length), 1);
    // A model URL that 404s, one that is unreachable, and a web page where model.json should be.
    const cases: Array<[string, RegExp]> = [
      [`${url}models/nope/model.json`, /model\.json: not found \(404\)$/],
      ['http://127.0.0.1:9/model.json', /could not be reached/],
      [`${url}index.html?x=model.json`, /a web page came back, not a model file/],
    ];
    for (const [bad, expected] of cases) {
      await page.selectOption('#model-select', 'url');
      await page.fill('#model-url', bad);
      await page.click('#model-load');
      await page.waitForFunction(() => document.getElementById('model-status')?.textContent === 'No model loaded.');
      const msg = await errorText(page);
      assert.match(msg, expected, bad);
      assert.doesNotMatch(msg, /Unexpected token/);
      assert.equal(await page.$$eval('#pred-clean li', (l) => l.length), 0, 'no stale predictions');
      assert.equal(await page.$$eval('#pred-pert li', (l) => l.length), 0);
    }
    await shot(page, '8-bad-url');
    // A model by URL, then MNIST again (the old bug: ".../model.json/model.json ... label layout imagenet").
    await page.selectOption('#model-select', 'url');
    await page.fill('#model-url', `models/${MODEL}/model.json`);
    await page.click('#model-load');
    await page.waitForFunction(() => / 224×224×3, 1000 classes/.test(document.getElementById('model-status')?.textContent ?? ''));
    await page.selectOption('#model-select', 'mnist');
    await page.click('#model-load');
    await page.waitForFunction(() => document.getElementById('model-status')?.textContent?.startsWith('mnist: input 28×28×1, 10 classes'));
    assert.equal(await page.isHidden('#error'), true);
    assert.equal(await page.inputValue('#xi'), '77', 'ξ follows the model');
    assert.equal(await page.isVisible('#pad'), true);
    // The page still works: the photo is re-read for MNIST, and the pad classifies.
    await classified(page, 1);
    await page.click('#pad-clear');
    await page.waitForFunction(() => document.getElementById('result-name')?.textContent === '— the drawing pad');
    // Draw a 7 and add ±77 noise.
    const r = (await (await page.$('#pad'))!.boundingBox())!;
    const stroke = async (pts: Array<[number, number]>) => {
      await page.mouse.move(r.x + pts[0]![0] * r.width, r.y + pts[0]![1] * r.height);
      await page.mouse.down();
      for (const [x, y] of pts.slice(1)) await page.mouse.move(r.x + x * r.width, r.y + y * r.height, { steps: 8 });
      await page.mouse.up();
    };
    await stroke([[0.25, 0.22], [0.75, 0.22], [0.45, 0.82]]);
    await page.click('#pert-random');
    await page.waitForFunction(() => document.querySelectorAll('#pred-pert li').length === 5);
    assert.equal(await page.textContent('#pred-clean li:first-child .name'), '7');
    await compute;
    await page.setInputFiles('#pert-file', [path.join(computed, 'perturbation.npy'), path.join(computed, 'perturbation.json')]);
    await page.waitForFunction(() => /computed on mnist/.test(document.getElementById('pert-status')?.textContent ?? ''));
    assert.match((await page.textContent('#pert-status'))!, /^perturbation\.npy: computed on mnist, ℓ∞ ξ = 77, data mnist:train \(200\), fooling rate on X \d/);
    await page.waitForFunction(() => /^(Fooled|Not fooled)/.test(document.getElementById('verdict')?.textContent ?? ''));
    assert.equal(await page.$$eval('#pred-pert li', (l) => l.length), 5);
    await shot(page, '9-mnist-pad');
    await page.close();
  });

  test('keyboard and labels: every control is labelled and reachable by Tab', async () => {
    const { page } = await openPage();
    const unlabelled = await page.$$eval('input, select, progress', (els) =>
      els.filter((e) => !(e as HTMLInputElement).labels?.length && !e.getAttribute('aria-label')).map((e) => e.id),
    );
    assert.deepEqual(unlabelled, []);
    const reached = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    for (const id of ['model-select', 'model-load', 'photos', 'drop', 'webcam-start', 'pert-file', 'pert-list', 'pert-random', 'xi', 'clip', 'epochs', 'compute']) {
      assert.ok(reached.has(id), `Tab reaches #${id} (reached: ${[...reached].join(', ')})`);
    }
    // The visually hidden file inputs show their focus on their label (a keyboard user sees where they are).
    await page.focus('#photos');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'photos');
    assert.notEqual(await page.$eval('label[for=photos]', (l) => getComputedStyle(l).outlineStyle), 'none');
    await page.close();
  });
});
