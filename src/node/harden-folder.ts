import path from 'node:path';
import type { Batch } from '../data/batch.js';
import { runHarden, type AttackRecord, type HardenControl, type HardenReport, type HardenSettings, type SideRecord } from '../defense/harden.js';
import type { ModelStore } from '../defense/model-store.js';
import { HardenCheckpoint } from './harden-checkpoint.js';
import { nodeModelIO } from './model-files.js';
import { saveLayersModel } from './save-layers-model.js';

/**
 * runHarden in a folder, as `uap harden` runs it: models are read as loadModel reads them (models dir,
 * cache, download), and `out` receives the hardened model (model.json, weights.bin), harden.json and,
 * while the run is unfinished, its checkpoint (out/checkpoint/).
 */
export interface FolderHardenOptions extends HardenControl {
  /** Where the hardened model, harden.json and the checkpoint go. */
  out: string;
  /** Local model mirror (default: env UAP_MODELS_DIR). */
  modelsDir?: string;
}

/** A ModelStore on the file system: reads through nodeModelIO, saves into `out`. */
export function folderModelStore(out: string, modelsDir?: string): ModelStore {
  return {
    io: nodeModelIO({ modelsDir }),
    async save(model) {
      await saveLayersModel(model, out);
      return out;
    },
  };
}

/**
 * Runs runHarden with its checkpoint and models in the folder `opts.out` (what `uap harden` does), so an
 * interrupted run resumes from there.
 */
export function hardenInFolder(s: HardenSettings, train: Batch, test: Batch, opts: FolderHardenOptions): Promise<HardenReport> {
  const { out, modelsDir, ...ctl } = opts;
  const checkpoint = new HardenCheckpoint<AttackRecord, Omit<SideRecord, 'fresh'>>(path.normalize(out));
  return runHarden(s, train, test, { checkpoint, models: folderModelStore(out, modelsDir) }, ctl);
}
