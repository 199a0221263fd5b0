import type { Command } from 'commander';
import path from 'node:path';
import { computeCommand } from './compute.js';
import { evalCommand } from './eval.js';
import { algorithm1FlagDefaults, fmtPct, sgdFlagDefaults } from './options.js';

/**
 * `uap demo`: the whole story on the embedded default, offline, in a few minutes on 2 cores:
 * a universal ℓ∞ perturbation computed on 1,000 training digits, measured on the 10,000 test digits it
 * never saw, beside random ±ξ noise of the same norm.
 */
/** The demo's own settings (its ξ, |X|, passes, method); everything else is the attacks' defaults. */
const DEMO_FLAGS: Array<[flag: string, help: string, value: string]> = [
  ['--xi <x>', 'ℓ∞ budget in pixel units (77 ≈ 0.3 of the range)', '77'],
  ['--limit <n>', 'training digits in X', '2000'],
  ['--max-passes <n>', 'passes (epochs) over X', '10'],
  ['--seed <n>', 'seed', '1'],
  ['--method <name>', 'sgd (stochastic gradient on v: fast) or deepfool (Algorithm 1 of the paper: ~10 min here)', 'sgd'],
  ['--out <dir>', 'where the perturbation goes', 'runs/demo'],
];

export function registerDemo(program: Command): void {
  const cmd = program.command('demo').description('compute a universal perturbation for the embedded MNIST CNN and evaluate it on the 10,000 test digits');
  for (const [flag, help, value] of DEMO_FLAGS) cmd.option(flag, help, value);
  cmd.action(async (o: { xi: string; limit: string; maxPasses: string; seed: string; out: string; method: string }) => {
    const common = { model: 'mnist', norm: 'inf', xi: o.xi, seed: o.seed, clip: true };
    const evalBatch = { batchSize: '500' }; // images per forward pass of eval (compute's --batch-size is the attack's own)
    const record = await computeCommand(program, {
      ...common,
      // The attacks' own defaults, but for the demo's δ, passes and method.
      ...algorithm1FlagDefaults(),
      ...sgdFlagDefaults(),
      data: 'mnist:train',
      limit: o.limit,
      delta: '0.1',
      maxPasses: o.maxPasses,
      method: o.method,
      out: o.out,
    });
    const universal = await evalCommand(program, { ...common, ...evalBatch, data: 'mnist:test', perturbation: path.join(o.out, 'perturbation.npy') });
    const random = await evalCommand(program, { ...common, ...evalBatch, data: 'mnist:test', random: 'sign' });
    const rows = [
      ['', 'fooling rate', 'accuracy'],
      ['clean test digits', '—', fmtPct(universal.accuracyClean as number)],
      [`universal perturbation (ℓ∞ ${o.xi})`, fmtPct(universal.foolingRate as number), fmtPct(universal.accuracyPerturbed as number)],
      [`random ±${o.xi} noise`, fmtPct(random.foolingRate as number), fmtPct(random.accuracyPerturbed as number)],
    ];
    console.log(`\nUniversal perturbation computed on ${record.data.n} training digits in ${record.wallSeconds.toFixed(0)} s ` +
      `(fooling rate on X ${fmtPct(record.foolingRateOnX)}), tested on the 10,000 unseen test digits (x + v clipped to 0..255):\n`);
    for (const r of rows) console.log(`  ${r[0]!.padEnd(36)} ${r[1]!.padStart(12)} ${r[2]!.padStart(10)}`);
    console.log(`\nFiles: ${o.out}/perturbation.npy (numpy.load reads it), perturbation.json, perturbation.png`);
  });
}
