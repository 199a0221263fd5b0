import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { AffineClassifier } from '../../attacks/testing/affine-classifier.js';
import type { Batch } from '../../data/batch.js';
import { PERTURBATION_FORMAT_VERSION, type PerturbationRecord } from '../../io/perturbation-record.js';
import type { Classifier } from '../../models/classifier.js';
import { makeSamples } from '../../report/samples.js';
import { createRng } from '../../util/rng.js';
import { writeJsonAtomic } from '../atomic-files.js';
import { savePerturbation } from '../perturbation-files.js';

/**
 * A small synthetic folder of runs for tests and for the docs screenshot of `uap report`: two perturbations
 * (ℓ∞ on 48×48 RGB with clean/perturbed samples and an eval, ℓ2 on 28×28 grey, not clipped), and a sweep,
 * a transfer matrix, a subspace analysis and dominant labels in the shapes the uap commands write them.
 * `hostile` puts markup into labels and names (the report must show it as text).
 * Uses whatever tfjs backend is set.
 */

export const FIXTURE_CLASSES = ['tabby cat', 'macaw', 'volcano', 'espresso', 'tench & "trout" <fish>'];
export const HOSTILE = `<script>document.title='pwned'</script><img src=x onerror="document.title='pwned'">`;

const S = 48;

/** Smooth colourful "photos": a sky gradient, a disc and a band, one colour scheme per image. */
function photos(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n * S * S * 3);
  for (let i = 0; i < n; i++) {
    const hue = [rng() * 255, rng() * 255, rng() * 255];
    const disc = [rng() * 255, rng() * 255, rng() * 255];
    const cx = 12 + rng() * 24;
    const cy = 12 + rng() * 24;
    const r = 7 + rng() * 8;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
        const band = y > 36;
        for (let c = 0; c < 3; c++) {
          const bg = hue[c]! * (0.45 + (0.55 * y) / S);
          const v = inDisc ? disc[c]! : band ? 0.5 * hue[(c + 1) % 3]! + 40 : bg;
          out[((i * S + y) * S + x) * 3 + c] = v;
        }
      }
    }
  }
  return out;
}

/** A perturbation with the texture of the paper's Fig. 4: signs of a few oriented waves, times ξ. */
function texture(h: number, w: number, c: number, xi: number, seed: number, l2?: number): Float32Array {
  const rng = createRng(seed);
  const waves = Array.from({ length: 5 }, () => ({ fx: (rng() - 0.5) * 1.2, fy: (rng() - 0.5) * 1.2, ph: rng() * 6.28, ch: [rng() - 0.5, rng() - 0.5, rng() - 0.5] }));
  const v = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (const q of waves) s += Math.sin(q.fx * x + q.fy * y + q.ph) * (c === 1 ? 1 : q.ch[k]! + 0.3);
        v[(y * w + x) * c + k] = l2 === undefined ? xi * Math.tanh(3 * s) : s;
      }
    }
  }
  if (l2 !== undefined) {
    const n = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
    for (let i = 0; i < v.length; i++) v[i] = (v[i]! * l2) / n;
  }
  return v;
}

function record(over: Partial<PerturbationRecord> & Pick<PerturbationRecord, 'inputShape' | 'norm' | 'xi' | 'history'>): PerturbationRecord {
  return {
    formatVersion: PERTURBATION_FORMAT_VERSION,
    modelId: 'synthetic-linear',
    method: 'deepfool',
    options: { delta: 0.2, maxPasses: 3, step: 'inf', candidates: 5, overshoot: 0.02, maxIterDeepFool: 10, deepfoolBatchSize: 1, keepBest: false, limit: 200, complete: true },
    seed: 7,
    backend: 'cpu',
    tfjsVersion: tf.version.tfjs,
    packageVersion: '0.1.0',
    data: { spec: 'fixture:train', n: 200 },
    clip: true,
    foolingRateOnX: over.history[over.history.length - 1]?.foolingRate ?? 0,
    wallSeconds: 12.3,
    createdAt: '2026-11-25T12:00:00.000Z',
    ...over,
  };
}

/**
 * A linear classifier over 48×48×3: class j responds to photo j (a template), and v pushes towards `dominant`
 * just enough that most, not all, of the photos change label.
 */
function classifier(names: string[], templates: Float32Array, images: Float32Array, n: number, v: Float32Array, dominant: number): Classifier {
  const d = S * S * 3;
  const k = names.length;
  const w = new Float32Array(k * d);
  for (let j = 0; j < k; j++) for (let i = 0; i < d; i++) w[j * d + i] = (templates[j * d + i]! - 128) / 255;
  const b = new Float32Array(k);
  for (let j = 0; j < k; j++) {
    // Nearest template on centred pixels: (t − 128)·(x − 128) − ‖t − 128‖²/2, over 255.
    let s = 0;
    for (let i = 0; i < d; i++) s += 128 * (templates[j * d + i]! - 128) + (templates[j * d + i]! - 128) ** 2 / 2;
    b[j] = -s / 255;
  }
  const logit = (x: Float32Array, off: number, j: number) => {
    let s = b[j]!;
    for (let i = 0; i < d; i++) s += w[j * d + i]! * x[off + i]!;
    return s;
  };
  // The extra push each image needs for `dominant` to win, and v's own effect per unit of push.
  const need: number[] = [];
  for (let m = 0; m < n; m++) {
    const pert = Float32Array.from({ length: d }, (_, i) => Math.min(255, Math.max(0, images[m * d + i]! + v[i]!)));
    const l = Array.from({ length: k }, (_, j) => logit(pert, 0, j));
    need.push(Math.max(...l.filter((_, j) => j !== dominant)) - l[dominant]!);
  }
  const sorted = need.filter((x) => x > 0).sort((a, b2) => a - b2);
  const push = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(n * 0.6) - 1)]! * 1.02 : 0;
  let vv = 0;
  for (let i = 0; i < d; i++) vv += Math.abs(v[i]!);
  // Adding c·sign(v)/… to w_dominant raises its logit on x + v by about c·‖v‖₁ more than on x.
  const c = push / vv;
  for (let i = 0; i < d; i++) w[dominant * d + i] = w[dominant * d + i]! + c * Math.sign(v[i]!);
  const base = new AffineClassifier([S, S, 3], w, b, 'synthetic-linear');
  return {
    id: base.id,
    inputShape: base.inputShape,
    labels: { ids: names.map((_, i) => String(i)), names },
    get backend() {
      return base.backend;
    },
    logits: (x) => base.logits(x),
    jacobian: (x, cls) => base.jacobian(x, cls),
    vjp: (x, u) => base.vjp(x, u),
    dispose: () => base.dispose(),
  };
}

export interface FixtureInfo {
  runs: string[];
  /** The samples of the ℓ∞ run, as written. */
  sampleLabels: Array<{ clean: string; perturbed: string }>;
}

export async function writeReportFixture(root: string, opts: { hostile?: boolean } = {}): Promise<FixtureInfo> {
  const names = [...FIXTURE_CLASSES];
  if (opts.hostile) names[4] = HOSTILE;
  // Run 1: ℓ∞, ξ = 10, 48×48 RGB, three passes, samples and an eval.
  const v1 = texture(S, S, 3, 10, 1);
  const dirA = path.join(root, 'runs', 'color-linf-10');
  await savePerturbation(dirA, v1, [S, S, 3], record({
    inputShape: [S, S, 3],
    norm: 'inf',
    xi: 10,
    history: [
      { pass: 1, foolingRate: 0.41, deepfoolCalls: 180, seconds: 4.1, norm: 10 },
      { pass: 2, foolingRate: 0.68, deepfoolCalls: 90, seconds: 4.0, norm: 10 },
      { pass: 3, foolingRate: 0.83, deepfoolCalls: 41, seconds: 4.2, norm: 10 },
    ],
  }));
  const n = 6;
  const images = photos(n, 3);
  const clf = classifier(names, photos(5, 3), images, n, v1, 4);
  const batch: Batch = {
    images,
    labels: Int32Array.from({ length: n }, (_, i) => (i === 5 ? -1 : i % 4)),
    n,
    shape: [S, S, 3],
    names: Array.from({ length: n }, (_, i) => (opts.hostile && i === 0 ? `${HOSTILE}.png` : `photo-${i + 1}.png`)),
  };
  const samples = await makeSamples(clf, batch, v1, { model: clf.id, perturbation: 'runs/color-linf-10' });
  clf.dispose();
  await writeJsonAtomic(path.join(dirA, 'samples.json'), samples);
  await writeJsonAtomic(path.join(dirA, 'eval.json'), {
    model: 'synthetic-linear', data: 'fixture:val', perturbation: 'runs/color-linf-10/perturbation.npy', clip: true,
    n: 500, labelled: 500, foolingRate: 0.79, accuracyClean: 0.91, accuracyPerturbed: 0.24,
  });

  // Run 2: ℓ2, ξ = 400, 28×28 grey, not clipped.
  const v2 = texture(28, 28, 1, 0, 2, 400);
  await savePerturbation(path.join(root, 'runs', 'mnist-l2-400'), v2, [28, 28, 1], record({
    modelId: 'mnist',
    inputShape: [28, 28, 1],
    norm: 2,
    xi: 400,
    clip: false,
    seed: 3,
    data: { spec: 'mnist:train', n: 1000 },
    options: { delta: 0.2, maxPasses: 5, step: 2, candidates: 10, overshoot: 0.02, maxIterDeepFool: 10, deepfoolBatchSize: 1, keepBest: false, limit: 1000, complete: true },
    history: [
      { pass: 1, foolingRate: 0.22, deepfoolCalls: 700, seconds: 20, norm: 400 },
      { pass: 2, foolingRate: 0.47, deepfoolCalls: 510, seconds: 19, norm: 400 },
      { pass: 3, foolingRate: 0.58, deepfoolCalls: 380, seconds: 18, norm: 400 },
    ],
    wallSeconds: 57,
  }));

  // uap sweep's sweep.json.
  const sizes = [50, 100, 200, 500, 1000, 2000];
  await writeJsonAtomic(path.join(root, 'sweep', 'sweep.json'), {
    model: 'synthetic-linear', modelId: 'synthetic-linear', data: 'fixture:train', val: 'fixture:val', nVal: 500, norm: 'inf', xi: 10, seed: 1, clip: true,
    sizes: sizes.map((size, i) => ({
      size,
      foolingRateX: 0.92 - i * 0.03,
      foolingRateVal: 0.3 + 0.52 * (1 - Math.exp(-size / 400)),
      accuracyCleanVal: 0.91,
      accuracyPerturbedVal: 0.6 - i * 0.06,
      passes: 3,
      seconds: size * 0.05,
      dir: `n-${size}`,
    })),
  });

  // uap transfer --out transfer.json.
  const models = ['vgg-16', 'googlenet', 'resnet-152', 'mobilenet'];
  const fr = [
    [0.78, 0.45, 0.38, 0.52],
    [0.41, 0.81, 0.44, 0.49],
    [0.47, 0.46, 0.84, 0.55],
    [null, 0.39, 0.42, 0.88],
  ];
  await writeJsonAtomic(path.join(root, 'transfer.json'), {
    data: 'imagenet-sample:val', limit: null, seed: 1, clip: true, resize: false,
    rows: models.map((m) => ({ label: m, shape: [224, 224, 3], norm: 'inf', normValue: 10, source: `runs/${m}`, modelId: m })),
    columns: models.map((m) => ({ label: m, modelId: m, inputShape: [224, 224, 3], n: 200, accuracyClean: 0.7, model: m })),
    foolingRates: fr,
    cells: fr.map((row) => row.map((x) => (x === null ? { status: 'size-mismatch' } : { status: 'ok', foolingRate: x, accuracyClean: 0.7, accuracyPerturbed: 0.3, n: 200, resized: false }))),
    createdAt: '2026-11-25T12:00:00.000Z',
  });

  // uap subspace's subspace.json.
  const sv = Array.from({ length: 60 }, (_, i) => 6 * Math.exp(-i / 9) + 0.25);
  const rsv = Array.from({ length: 60 }, (_, i) => 1.3 - i * 0.006);
  await writeJsonAtomic(path.join(root, 'subspace', 'subspace.json'), {
    model: 'synthetic-linear', modelId: 'synthetic-linear', data: 'fixture:train', seed: 1, clip: true,
    attempted: 64, normals: 60, d: S * S * 3, singularValues: sv, randomSingularValues: rsv, meanDistance: 210, xi: 2000, nEval: 500,
    foolingRates: [5, 10, 20, 40, 60].map((dim) => ({ dim, dimUsed: dim, foolingRate: 0.7 - dim * 0.008, samples: [0.6] })),
    randomFoolingRate: { foolingRate: 0.1, samples: [0.1] },
  });

  // uap labels --json > labels.json.
  const top = [
    [4, 161], [0, 23], [2, 9], [1, 4], [3, 3],
  ] as const;
  const fooled = 200;
  await writeJsonAtomic(path.join(root, 'labels.json'), {
    model: 'synthetic-linear', perturbation: 'runs/color-linf-10', data: 'fixture:val', foolingRate: 0.4, n: 500, fooled, distinct: 5,
    top: top.map(([index, count]) => ({ index, id: String(index), name: names[index], count, share: count / fooled })),
    topShare: 1,
  });

  return {
    runs: ['runs/color-linf-10', 'runs/mnist-l2-400'],
    sampleLabels: samples.samples.map((s) => ({ clean: s.clean.label, perturbed: s.perturbed.label })),
  };
}
