import type { Command } from 'commander';
import path from 'node:path';
import { makeSamples, renderReport, UapError, type Classifier, type ReportData } from '../index.js';
import { checkOutFile, collectReportData, hasContent, loadPerturbation, writeFileAtomic } from '../node/index.js';
import { openData, openModel, packageVersion } from './context.js';
import { int } from './options.js';

export interface ReportFlags {
  out?: string;
  title?: string;
  /** Data spec of photos to show clean vs perturbed on each run's model. */
  samples?: string;
  samplesCount?: string;
  seed?: string;
  /** The model --samples uses (default: each run's own, from its record). */
  model?: string;
  modelsDir?: string;
}

/** `uap report DIR`: one self-contained HTML page of every run and evaluation found under DIR. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description('build one self-contained HTML page (opens offline) from the runs and evaluation files under DIR')
    .argument(
      '<dir>',
      'folder of runs: perturbation.npy + perturbation.json folders (with optional samples.json, eval*.json), sweep*.json, transfer*.json, subspace*.json, labels*.json / dominant*.json, eval*.json, apply.json',
    )
    .option('--out <file>', 'where the page goes (default: DIR/report.html)')
    .option('--title <text>', 'page title')
    .option('--samples <spec>', "for runs without samples.json: classify these images (mnist:test, a folder, files) clean and perturbed with the run's model and show them")
    .option('--samples-count <n>', 'how many images --samples shows per run (a seeded shuffle of the spec)', '8')
    .option('--seed <n>', 'seed of that shuffle', '1')
    .option('--model <name>', "the model --samples classifies with (default: each run's own, from its record; needed for perturbations without one)")
    .option('--models-dir <dir>', 'local model mirror (default: env UAP_MODELS_DIR)')
    .action(async (dir: string, f: ReportFlags) => {
      const out = await reportCommand(dir, f, program);
      console.error(`report written to ${out}`);
    });
}

/** Adds clean/perturbed samples to every run that has a record and none yet; a run whose model fails is noted and left out. */
async function addSamples(data: ReportData, root: string, f: ReportFlags, program: Command): Promise<void> {
  const count = int('--samples-count', f.samplesCount ?? '8', 1);
  const seed = int('--seed', f.seed ?? '1');
  const models = new Map<string, Classifier>();
  try {
    for (const run of data.runs) {
      const r = run.record;
      const modelId = f.model ?? r?.modelId;
      if (run.samples || !modelId) continue;
      try {
        let model = models.get(modelId);
        if (!model) {
          model = await openModel(program, modelId, f.modelsDir);
          models.set(modelId, model);
        }
        const p = await loadPerturbation(path.join(root, run.dir), { expectShape: model.inputShape });
        const batch = await openData(f.samples!, model, { limit: count, seed, label: 'samples' });
        run.samples = await makeSamples(model, batch, p.data, { clip: r?.clip ?? true, model: model.id, perturbation: run.dir });
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        data.skipped.push({ file: `${run.dir} (samples from ${f.samples})`, reason: why });
      }
    }
  } finally {
    for (const m of models.values()) m.dispose();
  }
}

export async function reportCommand(dir: string, f: ReportFlags, program?: Command): Promise<string> {
  if (f.out !== undefined) await checkOutFile(f.out); // before --samples runs any model
  const data = await collectReportData(dir, { packageVersion, ...(f.title !== undefined ? { title: f.title } : {}) });
  if (f.samples !== undefined) {
    if (!program) throw new UapError('BAD_ARGUMENT', 'needs the command line (backend choice)', '--samples');
    await addSamples(data, dir, f, program);
  }
  for (const s of data.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
  if (!hasContent(data)) {
    throw new UapError('NOT_FOUND', 'found no runs (perturbation.npy + perturbation.json) or evaluation files to report', dir);
  }
  const out = f.out ?? path.join(dir, 'report.html');
  await writeFileAtomic(out, renderReport(data));
  const count = (n: number, one: string, many = `${one}s`) => (n ? [`${n} ${n === 1 ? one : many}`] : []);
  const found = [
    ...count(data.runs.length, 'perturbation'),
    ...count(data.runs.filter((r) => r.samples).length + data.samples.length, 'sample set'),
    ...count(data.sweeps.length, 'sweep'),
    ...count(data.transfers.length, 'transfer matrix', 'transfer matrices'),
    ...count(data.dominantLabels.length, 'dominant-label list'),
    ...count(data.subspaces.length, 'subspace analysis', 'subspace analyses'),
    ...count(data.evals.length + data.runs.filter((r) => r.evals?.length).length, 'evaluation file'),
    ...count(data.applies?.length ?? 0, 'contact sheet'),
  ];
  console.error(`found ${found.join(', ')}`);
  return out;
}
