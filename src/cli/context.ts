import type { Command } from 'commander';
import { CROP_FRACTION, UapError, VERSION, type Batch, type Classifier } from '../index.js';
import { loadDataset } from '../node/index.js';
import { initCliBackend } from './backend.js';
import { openWithOrt } from './engine.js';
import { progressBar } from './progress.js';
import { loadWithWorkers, workerCount } from './workers.js';

/**
 * What every command that runs a model needs: backend, model, data — with progress on stderr. `wide` decodes
 * the photos without the model's centre crop (see wideBatchSource), for the shift augmentation.
 */

/** The version written into result files (package.json's, see src/version.ts). */
export const packageVersion: string = VERSION;

export async function openModel(program: Command, name: string, modelsDir?: string): Promise<Classifier> {
  const backend = await initCliBackend(program);
  const onOrt = await openWithOrt(program, name, modelsDir);
  if (onOrt) {
    console.error(`model: ${onOrt.id} (input ${onOrt.inputShape.join('×')}, ${onOrt.labels.ids.length} classes)`);
    return onOrt;
  }
  const workers = workerCount(program, backend);
  const { model, workers: n } = await loadWithWorkers(name, { modelsDir, workers, backend });
  console.error(`model: ${model.id} (input ${model.inputShape.join('×')}, ${model.labels.ids.length} classes${n > 1 ? `, ${n} workers` : ''})`);
  return model;
}

export async function openData(
  spec: string,
  model: Classifier,
  opts: { limit?: number; seed?: number; label?: string; wide?: boolean } = {},
): Promise<Batch> {
  const bar = progressBar(opts.label ?? 'load');
  let started = false;
  const [h, w, c] = model.inputShape;
  if (opts.wide && /^mnist:/i.test(spec)) {
    throw new UapError('BAD_ARGUMENT', 'the shift view draws windows from the photo around the model\'s crop; MNIST digits have none (use flip, crop)', '--augment');
  }
  try {
    const batch = await loadDataset(spec, {
      // wide: the photos as the model resizes them (shorter side h/0.875), a square around its centre crop uncut
      ...(opts.wide
        ? { inputShape: [Math.round(h / CROP_FRACTION), Math.round(w / CROP_FRACTION), c] as [number, number, number], cropFraction: 1 }
        : { inputShape: [h, w, c] as [number, number, number] }),
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
