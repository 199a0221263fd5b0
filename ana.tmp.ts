import * as tf from '@tensorflow/tfjs';
import { readdirSync } from 'node:fs';
import { initBackend, loadDataset, loadModel, loadOrtEngine, loadPerturbation } from './src/node/index.js';
await initBackend('wasm');
const model = process.argv[2]!;
const base = await loadModel(model, { modelsDir: '/work/shared/models' });
const Ort = await loadOrtEngine();
const m = await Ort.create(base, { threads: 1 });
const val = await loadDataset('/work/shared/imagenet-sample/val.txt', { inputShape: [224, 224, 3] });
const x = tf.tensor4d(val.images, [val.n, 224, 224, 3]);
const top1 = async (t: tf.Tensor4D) => { const z = await m.logits(t); const a = (await tf.argMax(z, 1).data()) as Int32Array; z.dispose(); return a; };
const clean = await top1(x);
const R = '/work/wt-research/runs/results/perturbations/';
const dirs = readdirSync(R).filter((d) => d.startsWith(model + '--') && d.includes('sga_--loss_ce'));
const fooled: Uint8Array[] = [];
for (const d of dirs) {
  const p = await loadPerturbation(R + d);
  const xv = tf.tidy(() => tf.clipByValue(tf.add(x, tf.tensor3d(p.data, [224, 224, 3])), 0, 255) as tf.Tensor4D);
  const a = await top1(xv); xv.dispose();
  const f = Uint8Array.from(a, (c, i) => (c !== clean[i] ? 1 : 0));
  fooled.push(f);
  console.log((f.reduce((s, b) => s + b, 0) / 2).toFixed(1), d.slice(model.length + 2));
}
const counts = Array.from({ length: val.n }, (_, i) => fooled.reduce((s, f) => s + f[i]!, 0));
const hist = new Map<number, number>(); for (const c of counts) hist.set(c, (hist.get(c) ?? 0) + 1);
console.log('runs', fooled.length, 'photos by number of runs fooling them:', [...hist.entries()].sort((a, b) => a[0] - b[0]));
