/**
 * Where an ORT graph spends its time, for performance work on src/models/onnx/export*.ts:
 *   node --import tsx bench/profile-ort.ts [MODEL=mobilenet_v1_0.25_224] [k=1] [N=16] [threads=1] [maskOps=auto|nchwc|compare] [stride1Grad=conv|convTranspose]
 * k = 0 profiles the logits graph, k = sgd the perturbation-gradient graph (cross-entropy, clipped: one SGD step). Runs the graph 6 times with ORT's profiler (enableProfiling) and
 * prints, per op type, the sum over nodes of each node's FASTEST run (robust to a busy machine, where
 * single runs are inflated by preemption), then the 15 slowest nodes; and the CPU ms per photo of the
 * fastest run. NCHWc nodes and the ReorderInput/ReorderOutput that ORT inserts show up by name.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fileURLToPath } from 'node:url';
import { exportGradGraph, exportLogitsGraph, exportPerturbationGradGraph, type ExportOptions } from '../src/index.js';
import { initBackend, loadModel } from '../src/node/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const [name = 'mobilenet_v1_0.25_224', ks = '1', ns = '16', ts = '1', maskOps = 'auto', stride1Grad = 'conv'] = process.argv.slice(2);
const sgd = ks === 'sgd';
const k = sgd ? 1 : Number(ks);
const n = Number(ns);
await initBackend('wasm');
const modelsDir = path.join(process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared'), 'models');
const base = await loadModel(name, { modelsDir });
const opts: ExportOptions = { stride1Grad: stride1Grad as 'conv', ...(maskOps === 'auto' ? {} : { maskOps: maskOps as 'nchwc' }) };
const prefix = path.join(mkdtempSync(path.join(os.tmpdir(), 'uap-ort-profile-')), 'p');
const graph = sgd
  ? exportPerturbationGradGraph(base.net, n, { loss: 'ce', targeted: false, beta: 9, kappa: 0, clip: true }, opts)
  : k === 0
    ? exportLogitsGraph(base.net, n, opts)
    : exportGradGraph(base.net, n, k, opts);
const session = await ort.InferenceSession.create(graph, {
  intraOpNumThreads: Number(ts),
  graphOptimizationLevel: 'all',
  enableProfiling: true,
  profileFilePrefix: prefix,
});
const [h, w, c] = base.inputShape;
const K = base.labels.ids.length;
const x = new ort.Tensor('float32', Float32Array.from({ length: n * h * w * c }, (_, i) => (i * 7919) % 256), [n, h, w, c]);
const up = new Float32Array(Math.max(k, 1) * n * K);
for (let i = 0; i < k * n; i++) up[i * K + (i % K)] = 1;
const feeds: Record<string, ort.Tensor> = sgd
  ? { x, v: new ort.Tensor('float32', new Float32Array(h * w * c).fill(3), [h, w, c]), target: new ort.Tensor('float32', up, [n, K]) }
  : k === 0
    ? { x }
    : { x, upstream: new ort.Tensor('float32', up, [k * n, K]) };
let bestCpu = Infinity;
for (let r = 0; r < 6; r++) {
  const c0 = process.cpuUsage();
  await session.run(feeds);
  const d = process.cpuUsage(c0);
  bestCpu = Math.min(bestCpu, (d.user + d.system) / 1000 / n);
}
session.endProfiling();
await session.release();
// ORT names the file <prefix>_<date>.json
const dir = path.dirname(prefix);
const file = path.join(dir, readdirSync(dir).find((f) => f.endsWith('.json'))!);

interface Event {
  cat?: string;
  name: string;
  dur: number;
  args?: { op_name?: string; output_type_shape?: unknown };
}
const events = JSON.parse(readFileSync(file, 'utf8')) as Event[];
const fastest = new Map<string, { dur: number; op: string; shape: string }>();
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const prev = fastest.get(e.name);
  if (!prev || e.dur < prev.dur) fastest.set(e.name, { dur: e.dur, op: e.args?.op_name ?? '?', shape: JSON.stringify(e.args?.output_type_shape ?? '') });
}
const byOp = new Map<string, number>();
for (const v of fastest.values()) byOp.set(v.op, (byOp.get(v.op) ?? 0) + v.dur);
const total = [...byOp.values()].reduce((a, b) => a + b, 0);
console.log(`${name}, ${sgd ? 'perturbation gradient (SGD step)' : k === 0 ? 'logits' : `gradients k = ${k}`}, batch ${n}, ${ts} thread(s): sum of per-node fastest runs ${(total / 1000).toFixed(2)} ms per batch (${(total / 1000 / n).toFixed(2)} ms/photo); fastest run ${bestCpu.toFixed(2)} CPU ms/photo; ${fastest.size} nodes`);
for (const [op, d] of [...byOp.entries()].sort((a, b) => b[1] - a[1])) console.log(`  ${op.padEnd(20)} ${(d / 1000).toFixed(2).padStart(8)} ms  ${((100 * d) / total).toFixed(0).padStart(3)} %`);
console.log('slowest nodes:');
for (const [nm, v] of [...fastest.entries()].sort((a, b) => b[1].dur - a[1].dur).slice(0, 15)) console.log(`  ${(v.dur / 1000).toFixed(2).padStart(7)} ms  ${v.op.padEnd(14)} ${nm.replace(/_kernel_time$/, '').slice(0, 40).padEnd(40)} ${v.shape.slice(0, 60)}`);
console.log(`profile: ${file}`);
