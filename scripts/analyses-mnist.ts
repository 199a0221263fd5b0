/**
 * End-to-end check of the paper's analyses on MNIST (not a unit test): runs the real CLI — compute, transfer,
 * labels, sweep, subspace — on the repository's MNIST model and checks that each command's output is sane.
 *
 *   node --import tsx scripts/analyses-mnist.ts [OUT_DIR]      (default runs/analyses-mnist; a few minutes on 2 cores)
 *
 * Needs models/mnist/model.json (`uap train mnist`), or UAP_MNIST_MODEL=<model folder>. The lts4 perturbations (224×224×3) are added as rows of the
 * transfer matrix to check that a size mismatch becomes a cell, not a failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.UAP_SHARED ?? path.resolve(root, '..', 'shared');
/** The MNIST classifier: the zoo's 'mnist' (models/mnist), or another model folder via UAP_MNIST_MODEL. */
const model = process.env.UAP_MNIST_MODEL ?? 'mnist';

function uap(args: string[]): string {
  const started = Date.now();
  console.error(`$ uap ${args.join(' ')}`);
  const out = execFileSync(process.execPath, [path.join(root, 'bin', 'uap.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  console.error(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return out;
}

function check(cond: unknown, what: string): void {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.error(`  ok: ${what}`);
}

export async function runMnistAnalyses(out = path.join(root, 'runs', 'analyses-mnist')): Promise<Record<string, unknown>> {
  if (model === 'mnist' && !existsSync(path.join(root, 'models', 'mnist', 'model.json'))) {
    throw new Error('models/mnist/model.json is missing: train it first (uap train mnist), or set UAP_MNIST_MODEL');
  }
  const summary: Record<string, unknown> = {};

  // 1. A perturbation to analyse (small X, batched DeepFool to keep it quick).
  const pert = path.join(out, 'uap');
  uap(['compute', '--model', model, '--data', 'mnist:train', '--limit', '200', '--norm', 'inf', '--xi', '60',
    '--max-passes', '3', '--deepfool-batch', '16', '--out', pert]);
  const rec = JSON.parse(readFileSync(path.join(pert, 'perturbation.json'), 'utf8')) as { foolingRateOnX: number };
  check(rec.foolingRateOnX > 0, `compute: fooling rate on X ${rec.foolingRateOnX}`);

  // 2. Transfer: the MNIST perturbation, random noise for scale, and one of the authors' ImageNet perturbations.
  const lts4 = path.join(shared, 'perturbations', 'lts4', 'googlenet.npy');
  const rows = [pert, ...(existsSync(lts4) ? [lts4] : [])];
  const tjson = path.join(out, 'transfer.json');
  const tText = uap(['transfer', '--models', model, '--perturbations', rows.join(','), '--data', 'mnist:test', '--limit', '1000', '--out', tjson]);
  console.log(tText);
  const t = JSON.parse(readFileSync(tjson, 'utf8')) as { foolingRates: Array<Array<number | null>>; cells: Array<Array<{ status: string }>> };
  check(t.foolingRates.length === rows.length && t.foolingRates[0]!.length === 1, 'transfer: matrix shape');
  check((t.foolingRates[0]![0] ?? 0) > 0, `transfer: the diagonal cell ${t.foolingRates[0]![0]}`);
  if (rows.length > 1) check(t.cells[1]![0]!.status === 'size-mismatch', 'transfer: 224×224×3 on 28×28×1 is a size-mismatch cell');
  summary.transfer = t.foolingRates;

  // 3. Dominant labels of the perturbation.
  const l = JSON.parse(uap(['labels', '--model', model, '--perturbation', pert, '--data', 'mnist:test', '--limit', '1000', '--json'])) as {
    fooled: number;
    top: Array<{ name: string; share: number }>;
  };
  check(l.fooled > 0 && l.top.length > 0, `labels: top label ${l.top[0]?.name} takes ${((l.top[0]?.share ?? 0) * 100).toFixed(1)}%`);
  summary.labels = l.top.slice(0, 3);

  // 4. Sweep over |X|.
  const sweepDir = path.join(out, 'sweep');
  uap(['sweep', '--model', model, '--data', 'mnist:train', '--val', 'mnist:test', '--val-limit', '1000', '--sizes', '20,50,100',
    '--norm', 'inf', '--xi', '60', '--max-passes', '3', '--deepfool-batch', '16', '--out', sweepDir]);
  const s = JSON.parse(readFileSync(path.join(sweepDir, 'sweep.json'), 'utf8')) as {
    sizes: Array<{ size: number; foolingRateX: number; foolingRateVal: number; seconds: number }>;
  };
  check(s.sizes.map((p) => p.size).join() === '20,50,100', 'sweep: three sizes');
  for (const p of s.sizes) check(existsSync(path.join(sweepDir, `n-${p.size}`, 'perturbation.npy')), `sweep: n-${p.size} saved (val ${p.foolingRateVal})`);
  summary.sweep = s.sizes.map((p) => ({ size: p.size, foolingRateX: p.foolingRateX, foolingRateVal: p.foolingRateVal, seconds: p.seconds }));

  // 5. Subspace of the decision-boundary normals.
  const subDir = path.join(out, 'subspace');
  uap(['subspace', '--model', model, '--data', 'mnist:train', '--limit', '200', '--val', 'mnist:test', '--val-limit', '1000',
    '--dims', '5,10,50', '--xi', '600', '--samples', '5', '--out', subDir]);
  const sub = JSON.parse(readFileSync(path.join(subDir, 'subspace.json'), 'utf8')) as {
    singularValues: number[];
    randomSingularValues: number[];
    foolingRates: Array<{ dim: number; foolingRate: number }>;
    randomFoolingRate: { foolingRate: number };
    meanDistance: number;
    normals: number;
  };
  const k = Math.min(50, sub.singularValues.length - 1);
  check(sub.singularValues[k]! < sub.randomSingularValues[k]!, `subspace: σ_${k + 1} of the normals (${sub.singularValues[k]!.toFixed(3)}) below random (${sub.randomSingularValues[k]!.toFixed(3)})`);
  summary.subspace = {
    normals: sub.normals,
    meanDistance: sub.meanDistance,
    sigma: [0, 4, 9, 49, 99].map((i) => [i + 1, sub.singularValues[i], sub.randomSingularValues[i]]),
    foolingRates: sub.foolingRates.map((f) => [f.dim, f.foolingRate]),
    randomFoolingRate: sub.randomFoolingRate.foolingRate,
  };
  console.log(JSON.stringify(summary, null, 2));
  return summary;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runMnistAnalyses(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
}
