import type { Command } from 'commander';
import { VERSION, type Batch, type Classifier } from '../index.js';
import { loadDataset, loadModel } from '../node/index.js';
import { initCliBackend } from './backend.js';
import { progressBar } from './progress.js';

/** What every command that runs a model needs: backend, model, data — with progress on stderr. */

/** The version written into result files (package.json's, see src/version.ts). */
export const packageVersion: string = VERSION;

export async function openModel(program: Command, name: string, modelsDir?: string): Promise<Classifier> {
  await initCliBackend(program);
  const model = await loadModel(name, { modelsDir });
  console.error(`model: ${model.id} (input ${model.inputShape.join('×')}, ${model.labels.ids.length} classes)`);
  return model;
}

export async function openData(
  spec: string,
  model: Classifier,
  opts: { limit?: number; seed?: number; label?: string } = {},
): Promise<Batch> {
  const bar = progressBar(opts.label ?? 'load');
  let started = false;
  try {
    const batch = await loadDataset(spec, {
      inputShape: [...model.inputShape] as [number, number, number],
      limit: opts.limit,
      seed: opts.seed,
      labels: model.labels,
      onProgress: (done, total) => {
        if (!started) bar.start(total, 0, { status: spec });
        started = true;
        bar.update(done, { status: spec });
      },
    });
    return batch;
  } finally {
    if (started) bar.stop();
  }
}
