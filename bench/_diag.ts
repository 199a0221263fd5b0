import * as tf from '@tensorflow/tfjs';
import { useWasm, randomTensor, seededRandom, referenceInputGrad, relativeError } from '../src/tensor/grad_testing.js';
import { loadModel } from '../src/models/load.js';
import { forwardValues } from '../src/models/net/forward.js';
import { backwardNet } from '../src/models/net/backward.js';
import { decodeForTests } from '../src/node/decode-for-tests.js';
await useWasm();
const name = process.argv[2]!;
const clf = await loadModel(name, { modelsDir: '../shared/models' });
const [h, w, c] = clf.inputShape;
const px = await decodeForTests('../shared/imagenet-sample/images/n01530575_brambling.jpg', h);
const x = tf.tensor4d(px, [1, h, w, c]);
const K = clf.labels.ids.length;
const up = randomTensor<tf.Rank.R2>([2, K], seededRandom(9));
const eng = async (be: string) => { await tf.setBackend(be); const g = tf.tidy(() => backwardNet(clf.net, forwardValues(clf.net, x, true), up, 2)); const d = await g.data() as Float32Array; g.dispose(); return d; };
const ew = await eng('wasm');
const ec = await eng('cpu');
await tf.setBackend('cpu');
const r = referenceInputGrad(clf.net, x, up, 2); const rc = await r.data() as Float32Array;
console.log('engine wasm vs engine cpu', relativeError(ew, ec));
console.log('engine cpu vs stock cpu', relativeError(ec, rc));
console.log('engine wasm vs stock cpu', relativeError(ew, rc));
// logits agreement
await tf.setBackend('wasm'); const lw = tf.tidy(() => forwardValues(clf.net, x, true)[clf.net.output]!).dataSync();
await tf.setBackend('cpu'); const lc = tf.tidy(() => forwardValues(clf.net, x, true)[clf.net.output]!).dataSync();
console.log('logits wasm vs cpu', relativeError(lw as Float32Array, lc as Float32Array));
const kinds = new Map<string, number>(); for (const n of clf.net.nodes) if (n.op) kinds.set(n.op.kind, (kinds.get(n.op.kind) ?? 0) + 1); console.log([...kinds]);
const l2 = (a: Float32Array, b: Float32Array) => { let n = 0, d = 0; for (let i = 0; i < a.length; i++) { n += (a[i]! - b[i]!) ** 2; d += b[i]! ** 2; } return Math.sqrt(n / d); };
console.log('L2 rel wasm vs cpu engine', l2(ew, ec));
let big = 0; let mx = 0; for (const v of ec) mx = Math.max(mx, Math.abs(v)); for (let i = 0; i < ew.length; i++) if (Math.abs(ew[i]! - ec[i]!) > 1e-3 * mx) big++;
console.log('pixels off by >1e-3 max', big, 'of', ew.length);
// mask flips per node
await tf.setBackend('wasm'); const vw = tf.tidy(() => forwardValues(clf.net, x, true).map(v => v!.dataSync().slice()));
await tf.setBackend('cpu'); const vc = tf.tidy(() => forwardValues(clf.net, x, true).map(v => v!.dataSync().slice()));
for (const node of clf.net.nodes) { const op = node.op as any; if (!op?.activation || op.activation === 'linear') continue; const a = vw[node.id]!, b = vc[node.id]!; let flips = 0, sat = 0; for (let i = 0; i < a.length; i++) { const ma = a[i]! > 0 && (op.activation !== 'relu6' || a[i]! < 6); const mb = b[i]! > 0 && (op.activation !== 'relu6' || b[i]! < 6); if (ma !== mb) flips++; if (b[i] === 6) sat++; } if (flips) console.log(node.name, 'flips', flips, 'of', a.length, 'sat6', sat); }

// same forward values (from cpu) on both backends
await tf.setBackend('cpu');
const valsC = forwardValues(clf.net, x, true);
const arrs = valsC.map(v => ({ d: v!.dataSync().slice(), s: v!.shape }));
const gC = backwardNet(clf.net, valsC, up, 2).dataSync().slice() as Float32Array;
await tf.setBackend('wasm');
const valsW = arrs.map(a => tf.tensor(a.d, a.s));
const gW = backwardNet(clf.net, valsW, up, 2).dataSync().slice() as Float32Array;
console.log('same values: wasm vs cpu engine', relativeError(gW, gC), 'L2', l2(gW, gC));
