/**
 * Gradient-engine benchmark → docs/benchmarks.md (`npm run bench`).
 *
 * For each model, on the wasm backend, with real photos from ../shared/imagenet-sample (resize shorter
 * side to 256, centre crop 224, RGB): forward, input gradient (vjp of one logit), 10-class Jacobian and
 * DeepFool, ms per image at batch 1 (median over the photos) and batch 16 (median over batches);
 * the stock path (tfjs's tf.grad through the same net as plain unfused ops, cpu backend) at batch 1 on
 * fewer photos; and the Jacobian throughput of 2 worker threads against 1.
 *
 * Options: --quick (fewer photos/repetitions, for trying it out), --models a,b, --out FILE.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { deepfool, type Classifier, type NetClassifier } from '../src/index.js';
import { referenceForward } from '../src/models/net/testing/reference.js';
import { initBackend, loadModel, WorkerPoolClassifier } from '../src/node/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const MODELS = (argValue('--models') ?? 'mobilenet_v1_0.25_224,mobilenet_v1_0.75_224,tiny_darknet').split(',');
const OUT = argValue('--out') ?? path.join(repoRoot, 'docs', 'benchmarks.md');
const shared = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
const modelsDir = path.join(shared, 'models');
const PHOTOS_B1 = quick ? 5 : 20;
const PHOTOS_B16 = 32; // two batches of 16
const REPS_B16 = 1;
const STOCK_PHOTOS = quick ? 1 : 3;
const BATCH = 16;
const K = 10;

const log = (s: string) => process.stderr.write(`${s}\n`);

async function decode(file: string): Promise<Float32Array> {
  const { data } = await sharp(file)
    .removeAlpha()
    .toColourspace('srgb')
    .resize(256, 256, { fit: 'outside', kernel: 'linear' })
    .resize(224, 224, { fit: 'cover', position: 'centre' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Float32Array.from(data);
}

async function loadPhotos(n: number): Promise<Float32Array[]> {
  const list = readFileSync(path.join(shared, 'imagenet-sample', 'val.txt'), 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(0, n);
  return Promise.all(list.map((rel) => decode(path.join(shared, 'imagenet-sample', rel.trim()))));
}

function batchOf(photos: Float32Array[], from: number, n: number): tf.Tensor4D {
  const data = new Float32Array(n * 224 * 224 * 3);
  for (let i = 0; i < n; i++) data.set(photos[(from + i) % photos.length]!, i * 224 * 224 * 3);
  return tf.tensor4d(data, [n, 224, 224, 3]);
}

const median = (a: number[]): number => {
  const s = [...a].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function timed(f: () => Promise<tf.Tensor[]>): Promise<number> {
  const t = performance.now();
  const out = await f();
  for (const o of out) await o.data();
  const ms = performance.now() - t;
  tf.dispose(out);
  return ms;
}

/** The top-k classes of each image (what DeepFool differentiates). */
async function topClasses(clf: Classifier, x: tf.Tensor4D, k: number): Promise<tf.Tensor2D> {
  const l = await clf.logits(x);
  const { indices } = tf.topk(l, k);
  l.dispose();
  return indices as tf.Tensor2D;
}

interface Measures {
  forward: number;
  grad: number;
  jac: number;
}

async function measure(clf: Classifier, x: tf.Tensor4D): Promise<Measures> {
  const n = x.shape[0];
  const classes = await topClasses(clf, x, K);
  const top1 = tf.tidy(() => tf.slice(classes, [0, 0], [n, 1]).reshape([n]).toInt() as tf.Tensor1D);
  const nc = clf.labels.ids.length;
  const forward = await timed(async () => [await clf.logits(x)]);
  const grad = await timed(async () => {
    const r = await clf.vjp(x, () => tf.oneHot(top1, nc).toFloat() as tf.Tensor2D);
    return [r.logits, r.grad];
  });
  const jac = await timed(async () => {
    const r = await clf.jacobian(x, classes);
    return [r.logits, r.grads];
  });
  tf.dispose([classes, top1]);
  return { forward: forward / n, grad: grad / n, jac: jac / n };
}

interface Row {
  model: string;
  batch: number;
  m: Measures;
  deepfool?: number;
  deepfoolIters?: number;
}

async function stockCpu(clf: NetClassifier, photos: Float32Array[]): Promise<{ forward: number; grad: number; jac: number }> {
  await tf.setBackend('cpu');
  const f: number[] = [];
  const g: number[] = [];
  let jac = NaN;
  for (let i = 0; i < STOCK_PHOTOS; i++) {
    const x = batchOf(photos, i, 1);
    const t0 = performance.now();
    const l = tf.tidy(() => referenceForward(clf.net, x));
    const cls = (await tf.topk(l, K).indices.data()) as Int32Array;
    f.push(performance.now() - t0);
    l.dispose();
    const gradOf = (c: number) =>
      tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(referenceForward(clf.net, xx as tf.Tensor4D), tf.oneHot([c], clf.labels.ids.length))))(x));
    g.push(await timed(async () => [gradOf(cls[0]!)]));
    if (i === 0) {
      // the stock path has no multi-output backward: k separate gradients
      jac = await timed(async () => Array.from(cls, (c) => gradOf(c)));
    }
    x.dispose();
  }
  await tf.setBackend('wasm');
  return { forward: median(f), grad: median(g), jac };
}

async function workerScaling(model: string, photos: Float32Array[]): Promise<{ one: number; two: number; cores1: number; cores2: number } | undefined> {
  const res: number[] = [];
  const cores: number[] = [];
  for (const workers of [1, 2]) {
    const pool = await WorkerPoolClassifier.create(model, { modelsDir, workers });
    try {
      const x = batchOf(photos, 0, BATCH);
      const classes = await topClasses(pool, x, K);
      const once = async () => {
        const r = await pool.jacobian(x, classes);
        tf.dispose([r.logits, r.grads]);
      };
      await once(); // warm-up
      const t = performance.now();
      const cpu0 = process.cpuUsage();
      const reps = 1;
      for (let i = 0; i < reps; i++) await once();
      const wall = performance.now() - t;
      const cpu = process.cpuUsage(cpu0);
      res.push((reps * BATCH) / (wall / 1000));
      // CPU time of the whole process (main thread + workers) per second of wall time
      cores.push((cpu.user + cpu.system) / 1000 / wall);
      tf.dispose([x, classes]);
    } finally {
      pool.dispose();
    }
  }
  return { one: res[0]!, two: res[1]!, cores1: cores[0]!, cores2: cores[1]! };
}

const f1 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

async function main(): Promise<void> {
  if (!existsSync(modelsDir)) throw new Error(`no models at ${modelsDir} (set UAP_SHARED)`);
  const backend = await initBackend('wasm', { log });
  const photos = await loadPhotos(Math.max(PHOTOS_B1, PHOTOS_B16));
  const rows: Row[] = [];
  const stock: { model: string; s: { forward: number; grad: number; jac: number }; wasm: Measures }[] = [];
  const scaling: { model: string; one: number; two: number; cores1: number; cores2: number }[] = [];
  const started = Date.now();

  for (const model of MODELS) {
    const clf = await loadModel(model, { modelsDir });
    log(`${model}: batch 1`);
    // warm-up (XNNPACK operator creation, wasm heap growth)
    {
      const x = batchOf(photos, 0, 1);
      await measure(clf, x);
      x.dispose();
    }
    const per: Measures[] = [];
    for (let i = 0; i < PHOTOS_B1; i++) {
      const x = batchOf(photos, i, 1);
      per.push(await measure(clf, x));
      x.dispose();
    }
    const m1: Measures = { forward: median(per.map((p) => p.forward)), grad: median(per.map((p) => p.grad)), jac: median(per.map((p) => p.jac)) };
    rows.push({ model, batch: 1, m: m1 });

    log(`${model}: batch ${BATCH}`);
    const perB: Measures[] = [];
    {
      const x = batchOf(photos, 0, BATCH);
      await measure(clf, x); // warm-up at this batch size
      x.dispose();
    }
    for (let r = 0; r < REPS_B16; r++) {
      for (let b = 0; b < PHOTOS_B16 / BATCH; b++) {
        const x = batchOf(photos, b * BATCH, BATCH);
        perB.push(await measure(clf, x));
        x.dispose();
      }
    }
    const row: Row = {
      model,
      batch: BATCH,
      m: { forward: median(perB.map((p) => p.forward)), grad: median(perB.map((p) => p.grad)), jac: median(perB.map((p) => p.jac)) },
    };
    {
      log(`${model}: DeepFool`);
      const x = batchOf(photos, 0, BATCH);
      const t = performance.now();
      const r = await deepfool(clf, x, { maxIter: 10 });
      row.deepfool = (performance.now() - t) / BATCH;
      row.deepfoolIters = r.iterations.reduce((a, b) => a + b, 0) / BATCH;
      x.dispose();
    }
    rows.push(row);

    log(`${model}: stock cpu path`);
    stock.push({ model, s: await stockCpu(clf, photos), wasm: m1 });
    clf.dispose();

    log(`${model}: worker threads`);
    const sc = await workerScaling(model, photos);
    if (sc) scaling.push({ model, ...sc });
  }

  const cpus = os.cpus();
  const lines: string[] = [];
  lines.push('# Benchmarks: the gradient engine');
  lines.push('');
  lines.push('Generated by `npm run bench` (bench/run.ts). Do not edit by hand.');
  lines.push('');
  lines.push(`- Date: ${new Date().toISOString()}`);
  lines.push(`- Machine: ${cpus[0]?.model ?? 'unknown'}, ${cpus.length} logical cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, load average at the end ${os.loadavg().map((v) => v.toFixed(1)).join(' / ')}`);
  lines.push(`- Node ${process.versions.node}, tfjs ${tf.version.tfjs}, backend ${backend} (1 thread per instance)${quick ? ', --quick' : ''}`);
  lines.push(`- Photos: ../shared/imagenet-sample val.txt, resize shorter side to 256, centre crop 224. Batch 1: median over ${PHOTOS_B1} photos; batch ${BATCH}: median over the ${REPS_B16 * (PHOTOS_B16 / BATCH)} batches of ${PHOTOS_B16} photos (after a warm-up batch).`);
  lines.push(`- Input gradient = one vjp (forward + backward of one logit); Jacobian = ${K} logits (the top ${K}) per image from one forward; both include their forward.`);
  lines.push(`- Total bench time ${((Date.now() - started) / 60000).toFixed(1)} min.`);
  lines.push('');
  lines.push('## wasm backend, ms per image');
  lines.push('');
  lines.push(`| model | batch | forward | input gradient | ${K}-class Jacobian | gradient / forward | Jacobian / forward | DeepFool (maxIter 10) | DeepFool iterations |`);
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    lines.push(
      `| ${r.model} | ${r.batch} | ${f1(r.m.forward)} | ${f1(r.m.grad)} | ${f1(r.m.jac)} | ${(r.m.grad / r.m.forward).toFixed(2)} | ${(r.m.jac / r.m.forward).toFixed(2)} | ${f1(r.deepfool)} | ${r.deepfoolIters === undefined ? '–' : r.deepfoolIters.toFixed(1)} |`,
    );
  }
  lines.push('');
  lines.push('Goals: input gradient ≤ 3× forward, Jacobian ≤ 12× forward.');
  lines.push('');
  lines.push('## Against the stock path (tf.grad through plain unfused ops, cpu backend), batch 1');
  lines.push('');
  lines.push(`| model | stock forward ms | stock gradient ms | stock ${K}-class Jacobian ms | engine gradient speed-up | engine Jacobian speed-up |`);
  lines.push('|---|---|---|---|---|---|');
  for (const s of stock) {
    lines.push(`| ${s.model} | ${f1(s.s.forward)} | ${f1(s.s.grad)} | ${f1(s.s.jac)} | ${(s.s.grad / s.wasm.grad).toFixed(1)}× | ${(s.s.jac / s.wasm.jac).toFixed(1)}× |`);
  }
  lines.push('');
  lines.push(`Stock numbers: median over ${STOCK_PHOTOS} photo(s); the stock Jacobian is ${K} separate tf.grad calls on one photo (tfjs has no multi-output backward).`);
  lines.push('');
  lines.push(`## Worker threads: ${K}-class Jacobian throughput at batch ${BATCH}, images/s`);
  lines.push('');
  lines.push('| model | 1 worker | 2 workers | speed-up | CPU cores obtained, 1 worker | CPU cores obtained, 2 workers |');
  lines.push('|---|---|---|---|---|---|');
  for (const s of scaling) {
    lines.push(`| ${s.model} | ${s.one.toFixed(2)} | ${s.two.toFixed(2)} | ${(s.two / s.one).toFixed(2)}× | ${s.cores1.toFixed(2)} | ${s.cores2.toFixed(2)} |`);
  }
  lines.push('');
  lines.push(
    `Goal: 2 workers ≥ 1.7× one worker. "CPU cores obtained" is the process's CPU time (all threads) per second of wall time: a 2-worker run can only beat 1 worker by as much as it obtains more CPU. The machine has ${cpus.length} logical cores, shared with whatever else runs at the time (see the load average above).`,
  );
  lines.push('');
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, lines.join('\n'));
  log(`wrote ${OUT}`);
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
