/**
 * Top-1 / top-5 of every shared ImageNet model on ../shared/imagenet-sample/val.txt (200 photos; label =
 * the wnid prefix of the file name), next to the values ../shared/models/README.md gives. Prints a
 * markdown table. Photos are resized with tf.image.resizeBilinear (no antialiasing), as the README's numbers
 * were measured; sharp's antialiased 'linear' kernel gives results within a point or two. Usage: node --import tsx scripts/model-accuracy.ts [--limit N] [model ...]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZOO } from '../src/index.js';
import { loadModel } from '../src/node/index.js';
import { decodeBatchForTests } from '../src/node/testing/photos.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
const args = process.argv.slice(2);
const li = args.indexOf('--limit');
const limit = li >= 0 ? Number(args.splice(li, 2)[1]) : Infinity;
const names = args.length ? args : ZOO.filter((e) => e.labels !== 'digits').map((e) => e.name);

await tf.setBackend('wasm');
await tf.ready();

const files = readFileSync(path.join(shared, 'imagenet-sample/val.txt'), 'utf8').trim().split(/\r?\n/).slice(0, limit);
const rows: string[] = [];
rows.push('| model | format | input | top-1 | top-5 | README top-1 / top-5 | Δ top-1 | Δ top-5 | ms / photo (wasm, batch 50) |');
rows.push('|---|---|---|---|---|---|---|---|---|');
let worst = 0;
for (const name of names) {
  const model = await loadModel(name, { modelsDir: process.env.UAP_MODELS_DIR ?? path.join(shared, 'models') });
  const [h] = model.inputShape;
  const truth = files.map((f) => model.labels.ids.indexOf(path.basename(f).split('_')[0]!));
  let top1 = 0;
  let top5 = 0;
  let ms = 0;
  const B = 50;
  for (let s = 0; s < files.length; s += B) {
    const chunk = files.slice(s, s + B);
    const x = tf.tensor4d(await decodeBatchForTests(chunk.map((f) => path.join(shared, 'imagenet-sample', f)), h, 'tf'), [chunk.length, h, h, 3]);
    const t0 = performance.now();
    const logits = await model.logits(x);
    const { indices } = tf.topk(logits, 5);
    const idx = (await indices.array()) as number[][];
    ms += performance.now() - t0;
    tf.dispose([x, logits, indices]);
    idx.forEach((row, i) => {
      const t = truth[s + i]!;
      if (row[0] === t) top1++;
      if (row.includes(t)) top5++;
    });
  }
  model.dispose();
  const n = files.length;
  const p1 = (100 * top1) / n;
  const p5 = (100 * top5) / n;
  const ref = ZOO.find((e) => e.name === name)?.reference;
  const d1 = ref ? p1 - ref.top1 : NaN;
  const d5 = ref ? p5 - ref.top5 : NaN;
  if (ref) worst = Math.max(worst, Math.abs(d1), Math.abs(d5));
  const fmt = (v: number) => (Number.isNaN(v) ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(1)}`);
  const e = ZOO.find((z) => z.name === name);
  rows.push(
    `| ${name} | ${e?.format ?? '?'} | ${h} | ${p1.toFixed(1)} | ${p5.toFixed(1)} | ${ref ? `${ref.top1.toFixed(1)} / ${ref.top5.toFixed(1)}` : '–'} | ${fmt(d1)} | ${fmt(d5)} | ${(ms / n).toFixed(1)} |`,
  );
  console.error(rows[rows.length - 1]);
}
console.log(`Photos: ${files.length} of imagenet-sample/val.txt; resize shorter side to round(input/0.875) with tf.image.resizeBilinear, centre crop; tfjs ${tf.version.tfjs} ${tf.getBackend()}.\n`);
console.log(rows.join('\n'));
console.log(`\nLargest difference from the README: ${worst.toFixed(1)} points.`);
if (worst > 3) process.exitCode = 1;
