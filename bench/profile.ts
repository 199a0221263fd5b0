/**
 * Per-op profile of the gradient engine on one model (wasm), for performance work:
 *   node --import tsx bench/profile.ts MODEL [N=8] [k=1]
 * Prints, per node, the minimum over 4 runs of its backward time and one forward time (ms).
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { applyOp, backwardNet, forwardValues, setBackwardProfiler } from '../src/index.js';
import { fileURLToPath } from 'node:url';
import { initBackend, loadModel } from '../src/node/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
await initBackend('wasm');
const name = process.argv[2] ?? 'mobilenet_v1_0.25_224';
const n = Number(process.argv[3] ?? 8), k = Number(process.argv[4] ?? 1);
const modelsDir = path.join(process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared'), 'models');
const clf = await loadModel(name, { modelsDir });
const x = tf.randomUniform([n, 224, 224, 3], 0, 255) as tf.Tensor4D;
const run = () => tf.tidy(() => { const v = forwardValues(clf.net, x, true); const K = v[clf.net.output]!.shape[1]!; return backwardNet(clf.net, v, tf.oneHot(tf.tensor1d(Array.from({length: n*k}, (_, i) => i % 10), 'int32'), K).toFloat() as tf.Tensor2D, k); });
tf.dispose(run());
// forward per node
const fw = new Map<number, number>();
tf.tidy(() => { const vals: tf.Tensor[] = [x]; for (const node of clf.net.nodes) { if (!node.op) continue; const t = performance.now(); vals[node.id] = applyOp(node.op, node.inputs.map(i => vals[i]!)); fw.set(node.id, performance.now() - t); } });
let rows: [string, string, number][] = [];
const all: [string, string, number][][] = [];
let total = Infinity;
for (let rep = 0; rep < 4; rep++) {
  rows = [];
  setBackwardProfiler((nm, kind, ms) => rows.push([nm, kind, ms]));
  const t = performance.now(); tf.dispose(run()); total = Math.min(total, performance.now() - t);
  all.push(rows);
}
setBackwardProfiler(undefined);
rows = all[0]!.map((r, i) => [r[0], r[1], Math.min(...all.map(a => a[i]![2]))]);
let sum = 0; const byKind = new Map<string, number>();
for (const [nm, kind, ms] of rows) { sum += ms; byKind.set(kind, (byKind.get(kind) ?? 0) + ms); }
const fwTotal = [...fw.values()].reduce((a, b) => a + b, 0);
console.log(`total fwd+bwd ${total.toFixed(0)} ms, backward ops ${sum.toFixed(0)} ms, forward ${fwTotal.toFixed(0)}`);
console.log([...byKind].map(([a, b]) => `${a} ${b.toFixed(0)}`).join(', '));
for (const node of clf.net.nodes) { const r = rows.find(q => q[0] === node.name); if (r) console.log(node.name.padEnd(28), r[1].padEnd(16), 'bwd', r[2].toFixed(1).padStart(7), 'fwd', (fw.get(node.id) ?? 0).toFixed(1).padStart(6), (node.op as any).strides ?? '', (node.op as any).filter?.shape ?? ''); }
