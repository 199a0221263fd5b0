import type { Command } from 'commander';
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  batchSource,
  formatTransferTable,
  serializeResult,
  TransferResultSchema,
  transferMatrix,
  UapError,
  uniqueLabels,
  type Batch,
  type LazyTransferColumn,
  type TransferMatrix,
  type TransferRow,
} from '../index.js';
import { checkOutFile, loadPerturbation, PERTURBATION_FILES, writeFileAtomic } from '../node/index.js';
import { openData, openModel } from './context.js';
import { addImageOptions, addRunOptions, int, type SharedFlags } from './options.js';
import { printResult, stageBar, type CommandOutput } from './progress.js';
import { addQueueOptions, queuedTransferMatrixCommand, type QueueFlags } from './queued.js';

interface TransferFlags extends Omit<SharedFlags, 'model'>, QueueFlags {
  models: string;
  perturbations: string;
  resize?: boolean;
  out?: string;
}

/** `uap transfer`: fooling rate of every perturbation on every model (the paper's Table 2). */
export function registerTransfer(program: Command): void {
  const cmd = program
    .command('transfer')
    .description('cross-model fooling rates: rows = perturbations, columns = models (paper, Table 2)')
    .requiredOption('--models <list>', 'comma-separated models (zoo names, folders, model.json, .tflite)')
    .requiredOption(
      '--perturbations <list>',
      'comma-separated perturbation folders or .npy files; a folder without perturbation.npy contributes every .npy in it',
    )
    .requiredOption('--data <spec>', 'images to measure on: mnist:test, a folder, a list file, or comma-separated files')
    .option('--resize', 'resize perturbations of another H×W to each model’s input (bilinear, then re-projected)')
    .option('--out <file>', 'write the matrix as JSON to this file');
  addImageOptions(cmd, { limit: 'first n images of a seeded shuffle', seed: 'seed of --limit' });
  addRunOptions(addQueueOptions(cmd), { clip: 'do not clip x + v to 0..255', batchSize: true, json: 'print the matrix as JSON on stdout instead of a table' }).action(
    async (f: TransferFlags) => printResult(f.json, await transferCommand(program, f), TransferResultSchema, 'uap transfer --json'),
  );
}

function splitList(value: string, flag: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UapError('BAD_ARGUMENT', 'empty list', flag);
  return items;
}

/** Expands the --perturbations list: folders with perturbation.npy, plain .npy files, folders of .npy files. */
export async function perturbationFiles(list: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const item of list) {
    let info;
    try {
      info = await stat(item);
    } catch {
      throw new UapError('NOT_FOUND', 'no such file or folder', item);
    }
    if (!info.isDirectory()) {
      out.push(item);
      continue;
    }
    const names = await readdir(item);
    if (names.includes(PERTURBATION_FILES.npy)) {
      out.push(item);
      continue;
    }
    const npys = names.filter((n) => /\.npy$/i.test(n) && !n.startsWith('.')).sort();
    if (npys.length === 0) throw new UapError('NOT_FOUND', `holds neither ${PERTURBATION_FILES.npy} nor any .npy file`, item);
    out.push(...npys.map((n) => path.join(item, n)));
  }
  return out;
}

/** Loads the rows: label = the record's modelId, else the file (or folder) name. */
export async function loadTransferRows(list: readonly string[]): Promise<Array<TransferRow & { source: string; modelId: string | null }>> {
  const files = await perturbationFiles(list);
  const loaded = [];
  for (const file of files) {
    const p = await loadPerturbation(file);
    for (const w of p.warnings) console.error(`warning: ${w}`);
    const base = path.basename(file) === PERTURBATION_FILES.npy ? path.basename(path.dirname(file)) : path.basename(file);
    const fallback = base.replace(/\.npy$/i, '') || file;
    loaded.push({
      label: p.record?.modelId ?? fallback,
      v: p.data,
      shape: p.shape,
      norm: p.record?.norm ?? ('inf' as const),
      source: file,
      modelId: p.record?.modelId ?? null,
    });
  }
  const labels = uniqueLabels(loaded.map((r) => r.label));
  return loaded.map((r, i) => ({ ...r, label: labels[i]! }));
}

/** A short column label: zoo names as they are, paths by their file (or folder, for model.json) name. */
export function columnLabel(name: string): string {
  if (/^https?:/i.test(name)) name = new URL(name).pathname;
  if (!/[\\/]/.test(name)) return name;
  const trimmed = name.replace(/[\\/]+$/, '');
  const base = path.basename(trimmed);
  if (/^model\.json$/i.test(base)) return path.basename(path.dirname(trimmed)) || base;
  return base.replace(/\.(tflite|json)$/i, '') || trimmed;
}

/**
 * Writes the matrix to --out. Should that fail after all the work (the disk filled, the folder went away),
 * the matrix is not lost: it goes to a file in the temporary folder and on stdout, and the error says where.
 */
async function saveMatrix(out: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(out, text);
    console.error(`saved ${out}`);
    return;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const rescue = path.join(os.tmpdir(), `uap-transfer-${process.pid}-${Date.now()}.json`);
    const kept = await writeFileAtomic(rescue, text).then(
      () => `it is saved in ${rescue} and printed on stdout`,
      () => 'it is printed on stdout',
    );
    process.stdout.write(text);
    throw new UapError('BAD_ARGUMENT', `cannot write ${out} (${why}); the matrix is not lost: ${kept}`, undefined, { option: 'out' });
  }
}

export async function transferCommand(program: Command, f: TransferFlags): Promise<CommandOutput<{ matrix: TransferMatrix }>> {
  const seed = int('--seed', f.seed);
  const batchSize = int('--batch-size', f.batchSize, 1);
  const limit = f.limit === undefined ? undefined : int('--limit', f.limit, 1);
  const modelNames = splitList(f.models, '--models');
  // --out is checked before any work (not a folder, its folder writable and not full): the matrix takes long.
  if (f.out) await checkOutFile(f.out);
  // Read every perturbation first: a bad file fails before any model is loaded.
  const rows = await loadTransferRows(splitList(f.perturbations, '--perturbations'));
  console.error(`${rows.length} perturbation${rows.length === 1 ? '' : 's'}: ${rows.map((r) => r.label).join(', ')}`);

  // Data are decoded once per input shape (models of the same size share them).
  const dataByShape = new Map<string, Batch>();
  const labels = uniqueLabels(modelNames.map(columnLabel));
  const columns: LazyTransferColumn[] = modelNames.map((name, j) => ({
    label: labels[j]!,
    open: async () => {
      const model = await openModel(program, name, f.modelsDir);
      try {
        const key = model.inputShape.join('x');
        let data = dataByShape.get(key);
        if (!data) {
          data = await openData(f.data, model, { limit, seed });
          dataByShape.set(key, data);
        }
        return { label: labels[j]!, classifier: model, images: batchSource(data), labels: data.labels, release: () => model.dispose() };
      } catch (e) {
        model.dispose();
        throw e;
      }
    },
  }));

  const bar = stageBar('transfer');
  const queued = f.queue
    ? await queuedTransferMatrixCommand({ ...f, queue: f.queue }, rows, modelNames.map((model, j) => ({ label: labels[j]!, model })))
    : undefined;
  const matrix = queued ?? await transferMatrix(rows, columns, {
    resize: Boolean(f.resize),
    clip: f.clip,
    batchSize,
    onProgress: (e) => {
      const what = e.row < 0 ? 'clean predictions' : rows[e.row]!.label;
      bar.update(`${e.column}/${e.row}`, e.done, e.total, `${labels[e.column]}: ${what}`);
    },
  }).finally(() => bar.stop());

  const json = {
    data: f.data,
    limit: limit ?? null,
    seed,
    clip: matrix.clip,
    resize: matrix.resize,
    rows: matrix.rows.map((r, i) => ({ ...r, source: rows[i]!.source, modelId: rows[i]!.modelId })),
    columns: matrix.columns.map((c, j) => ({ ...c, model: modelNames[j] })),
    /** foolingRates[row][column]; null where the perturbation does not fit the model. */
    foolingRates: matrix.cells.map((row) => row.map((c) => (c.status === 'ok' ? c.foolingRate : null))),
    /** errorRates[row][column] (1 − perturbed accuracy); null where it does not fit or no label is known. */
    errorRates: matrix.cells.map((row) => row.map((c) => (c.status === 'ok' && c.errorRate !== undefined && !Number.isNaN(c.errorRate) ? c.errorRate : null))),
    cells: matrix.cells,
    createdAt: new Date().toISOString(),
  };
  if (f.out) await saveMatrix(f.out, serializeResult(TransferResultSchema, json, f.out) + '\n');
  const cells = matrix.cells.flat();
  const anyError = cells.some((c) => c.status === 'ok' && c.errorRate !== undefined && !Number.isNaN(c.errorRate));
  const lines = [
    `fooling rates on ${f.data} (top-1 on x + v differs from top-1 on x; rows: perturbations, columns: models; x + v ${matrix.clip ? 'clipped' : 'not clipped'} to 0..255${
      matrix.resize ? '; r = resized' : ''
    }):`,
    ...formatTransferTable(matrix),
    ...(anyError
      ? ['', `error rates on ${f.data} (top-1 on x + v is not the true label, over the labelled images; = 1 − perturbed accuracy):`, ...formatTransferTable(matrix, 'errorRate').slice(0, -1)]
      : ['error rate: n/a (no labels)']),
  ];
  if (cells.some((c) => c.status === 'size-mismatch' && c.reason === 'resize-not-requested')) {
    lines.push('size mismatch: the perturbation is not the model’s input size; --resize resizes it (bilinear, then re-projected)');
  }
  if (cells.some((c) => c.status === 'size-mismatch' && c.reason === 'channels-differ')) {
    lines.push('size mismatch: the perturbation and the model have different channels (e.g. RGB against greyscale)');
  }
  return { matrix, json, lines };
}
