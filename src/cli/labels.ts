import type { Command } from 'commander';
import {
  batchSource,
  dominantLabels,
  evaluatePerturbation,
  formatDominantLabels,
  resizePerturbation,
  LabelsResultSchema,
  type DominantLabels,
} from '../index.js';
import { loadPerturbation } from '../node/index.js';
import { openData, openModel } from './context.js';
import { addImageOptions, addModelAndData, addRunOptions, fmtPct, int, type SharedFlags } from './options.js';
import { fmtMeasures, printResult, progressBar, type CommandOutput } from './progress.js';
import { addQueueOptions, queuedLabelsCommand, type QueueFlags } from './queued.js';

interface LabelsFlags extends SharedFlags, QueueFlags {
  perturbation: string;
  top: string;
  resize?: boolean;
}

/** `uap labels`: the labels perturbed images collapse onto (paper, Fig. 7). */
export function registerLabels(program: Command): void {
  const cmd = addModelAndData(program.command('labels').description('dominant labels: which classes the fooled images are sent to (paper, Fig. 7)'), 'mnist:test, a folder, a list file, or comma-separated files')
    .requiredOption('--perturbation <file>', 'perturbation.npy (or its folder)')
    .option('--top <k>', 'how many labels to list', '10')
    .option('--resize', 'resize a perturbation of another H×W to the model’s input');
  addImageOptions(cmd, { limit: 'first n images of a seeded shuffle', seed: 'seed of --limit' });
  addRunOptions(addQueueOptions(cmd), { clip: 'do not clip x + v to 0..255', batchSize: true, json: 'print one JSON object on stdout' }).action(async (f: LabelsFlags) =>
    printResult(f.json, await labelsCommand(program, f), LabelsResultSchema, 'uap labels --json'),
  );
}

export async function labelsCommand(program: Command, f: LabelsFlags): Promise<CommandOutput<{ dominant: DominantLabels }>> {
  const seed = int('--seed', f.seed);
  const top = int('--top', f.top, 1);
  const batchSize = int('--batch-size', f.batchSize, 1);
  const limit = f.limit === undefined ? undefined : int('--limit', f.limit, 1);
  if (f.queue) return queuedLabelsCommand({ ...f, queue: f.queue });
  const model = await openModel(program, f.model, f.modelsDir);
  try {
    const p = await loadPerturbation(f.perturbation, f.resize ? {} : { expectShape: model.inputShape });
    const v = f.resize ? resizePerturbation(p.data, p.shape, model.inputShape, p.record?.norm ?? 'inf') : p.data;
    const data = await openData(f.data, model, { limit, seed });
    const bar = progressBar('labels');
    bar.start(data.n, 0, { status: '' });
    const e = await evaluatePerturbation(model, batchSource(data), data.labels, v, {
      clip: f.clip,
      batchSize,
      onProgress: (x) => bar.update(x.done),
    });
    bar.stop();
    const dominant = dominantLabels(e.cleanPred, e.pertPred, model.labels, top);
    const json = {
      model: model.id,
      perturbation: f.perturbation,
      data: f.data,
      foolingRate: e.foolingRate,
      errorRate: e.errorRate,
      ...dominant,
    };
    const lines = [
      `${f.perturbation} on ${model.id}, ${f.data}: ${fmtMeasures(e.foolingRate, e.errorRate)} (n = ${e.n})`,
      ...formatDominantLabels(dominant),
    ];
    return { dominant, json, lines };
  } finally {
    model.dispose();
  }
}
