import * as tf from '@tensorflow/tfjs';
import { lpNorm, projectLp, type LpNorm } from '../attacks/project.js';
import { toSource, type ImageSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import { predict } from '../models/predict.js';
import { evaluatePerturbation } from './fooling-rate.js';

/**
 * Cross-model transfer (UAP paper, Table 2): the fooling rate of every perturbation on every model.
 * Rows are perturbations (computed here, or imported such as the authors' published .npy files), columns
 * are the models they are tested on; a cell is the fooling rate on the column's images. Browser-safe.
 *
 * Clean predictions depend on the model and the images only, so each column computes them once and every
 * row reuses them. A perturbation whose H×W differs from a model's input is resized only when asked
 * (bilinear, then projected back onto the ℓp ball of its original norm); otherwise, and whenever the
 * channels differ, the cell records a size mismatch instead of failing the whole matrix.
 */

export type Shape3 = [number, number, number];

/** One row: a perturbation and what to call it. */
export interface TransferRow {
  /** Row label: its record's modelId, or the file name for imported perturbations. */
  label: string;
  /** HWC, pixel units. */
  v: Float32Array;
  shape: Shape3;
  /** Norm it was bounded in (resizing re-projects onto the ℓp ball of its original norm); default 'inf'. */
  norm?: LpNorm;
}

/** One column: a model and the images (at the model's input size) it is tested on. */
export interface TransferColumn {
  label: string;
  classifier: Classifier;
  images: tf.Tensor4D | ImageSource;
  /** True labels (−1 unknown) for clean/perturbed accuracy; optional. */
  labels?: Int32Array | null;
}

/** A column opened on demand (so a matrix over big models holds one model at a time), released afterwards. */
export interface LazyTransferColumn {
  label: string;
  /** Loads the column's model and images; `release`, when given, frees them after the column is done. */
  open(): Promise<TransferColumn & {
    /** Frees the column's model and images once the column is done. */
    release?: () => void | Promise<void>;
  }>;
}

/**
 * One cell of the matrix: the perturbation's fooling rate on the column's model, or why it could not be applied
 * (size mismatch).
 */
export type TransferCell =
  | {
      status: 'ok';
      /** The paper's fooling rate: top-1 on clip(x + v) differs from top-1 on x. */
      foolingRate: number;
      /**
       * Error rate: 1 − accuracyPerturbed, over the labelled images (NaN when none is labelled; absent where the
       * cell came from queue workers that do not report it).
       */
      errorRate?: number;
      accuracyClean: number;
      accuracyPerturbed: number;
      n: number;
      /** True when the perturbation was resized to the model's input. */
      resized: boolean;
    }
  | {
      status: 'size-mismatch';
      perturbationShape: Shape3;
      modelShape: Shape3;
      /** Why no resize happened: not asked, or channels differ (which resizing cannot fix). */
      reason: 'resize-not-requested' | 'channels-differ';
    };

export interface TransferColumnSummary {
  label: string;
  /** The classifier's id. */
  modelId: string;
  inputShape: Shape3;
  n: number;
  /** Clean top-1 accuracy on labelled images (NaN when none is labelled). */
  accuracyClean: number;
}

/** The transfer matrix (paper Table 2): rows are perturbations, columns models, cells[row][column] the results. */
export interface TransferMatrix {
  rows: Array<{ label: string; shape: Shape3; norm: LpNorm; normValue: number }>;
  columns: TransferColumnSummary[];
  /** cells[row][column]. */
  cells: TransferCell[][];
  clip: boolean;
  resize: boolean;
}

/** Options of transferMatrix. */
export interface TransferOptions {
  /** Resize perturbations whose H×W differs from a model's input (default false: such cells say size mismatch). */
  resize?: boolean;
  /** Evaluate on clip(x + v, 0, 255) (default true). */
  clip?: boolean;
  batchSize?: number;
  /** Called as the images of each cell are evaluated. */
  onProgress?: (e: { column: number; columns: number; row: number; rows: number; done: number; total: number }) => void;
  signal?: AbortSignal;
}

/** Share of labelled images (label ≥ 0) whose prediction is right; NaN when none is labelled. */
function accuracyOf(pred: Int32Array, labels: Int32Array | null): number {
  if (!labels) return Number.NaN;
  let labelled = 0;
  let right = 0;
  for (let i = 0; i < pred.length; i++) {
    if (labels[i]! < 0) continue;
    labelled++;
    if (labels[i] === pred[i]) right++;
  }
  return labelled > 0 ? right / labelled : Number.NaN;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Bilinear resize of a perturbation [H, W, C] to [h, w, C] (tf.image.resizeBilinear, half-pixel centres), then
 * projection onto the ℓp ball whose radius is the original ‖v‖_p, so resizing never makes it larger in its norm.
 * (For ℓ∞ bilinear interpolation cannot exceed the original maximum; for ℓ2/ℓ1 upsampling would grow the norm by
 * about the area ratio, which the projection undoes.) Channels must agree.
 */
export function resizePerturbation(v: Float32Array, from: readonly number[], to: readonly number[], norm: LpNorm = 'inf'): Float32Array {
  if (from.length !== 3 || to.length !== 3) throw new UapError('BAD_ARGUMENT', 'shapes must be [H, W, C]', 'resize');
  if (from[2] !== to[2]) {
    throw new UapError('BAD_INPUT', `cannot resize a ${from.join('×')} perturbation to ${to.join('×')}: channels differ`, 'perturbation');
  }
  if (v.length !== from[0]! * from[1]! * from[2]!) {
    throw new UapError('BAD_INPUT', `has ${v.length} values, not ${from.join('×')}`, 'perturbation');
  }
  if (sameShape(from, to)) return new Float32Array(v);
  const resized = tf.tidy(() => {
    const t = tf.tensor3d(v, from as Shape3);
    return tf.image.resizeBilinear(t, [to[0]!, to[1]!], false, true);
  });
  const out = resized.dataSync() as Float32Array;
  resized.dispose();
  const radius = lpNorm(v, norm);
  return radius > 0 ? projectLp(new Float32Array(out), radius, norm) : new Float32Array(out.length);
}

/**
 * The cells of one column: clean predictions once, then every row against them.
 * Rows that do not fit the model (and are not resized) become size-mismatch cells.
 */
export async function transferColumn(
  column: TransferColumn,
  rows: readonly TransferRow[],
  options: TransferOptions & { columnIndex?: number; columns?: number } = {},
): Promise<{ cells: TransferCell[]; summary: TransferColumnSummary }> {
  const clf = column.classifier;
  const modelShape = [...clf.inputShape] as Shape3;
  const source = toSource(column.images, `images of ${column.label}`);
  const batchSize = options.batchSize ?? 64;
  const clip = options.clip ?? true;
  const labels = column.labels ?? null;
  if (labels && labels.length !== source.size) {
    throw new UapError('BAD_ARGUMENT', `${labels.length} labels for ${source.size} images`, `labels of ${column.label}`);
  }
  const report = (row: number, done: number, total: number) =>
    options.onProgress?.({ column: options.columnIndex ?? 0, columns: options.columns ?? 1, row, rows: rows.length, done, total });

  report(-1, 0, source.size);
  const cleanPred = await predict(clf, source, batchSize);
  report(-1, source.size, source.size);
  const summary: TransferColumnSummary = {
    label: column.label,
    modelId: clf.id,
    inputShape: modelShape,
    n: source.size,
    accuracyClean: accuracyOf(cleanPred, labels),
  };

  const cells: TransferCell[] = [];
  for (let r = 0; r < rows.length; r++) {
    if (options.signal?.aborted) throw new UapError('INTERRUPTED', 'transfer matrix stopped');
    const row = rows[r]!;
    let v = row.v;
    let resized = false;
    if (!sameShape(row.shape, modelShape)) {
      const channelsDiffer = row.shape[2] !== modelShape[2];
      if (!options.resize || channelsDiffer) {
        cells.push({
          status: 'size-mismatch',
          perturbationShape: [...row.shape] as Shape3,
          modelShape,
          reason: channelsDiffer ? 'channels-differ' : 'resize-not-requested',
        });
        continue;
      }
      v = resizePerturbation(row.v, row.shape, modelShape, row.norm ?? 'inf');
      resized = true;
    }
    const e = await evaluatePerturbation(clf, source, labels, v, {
      clip,
      batchSize,
      cleanPred,
      signal: options.signal,
      onProgress: (p) => report(r, p.done, p.total),
    });
    cells.push({
      status: 'ok',
      foolingRate: e.foolingRate,
      errorRate: e.errorRate,
      accuracyClean: e.accuracyClean,
      accuracyPerturbed: e.accuracyPerturbed,
      n: e.n,
      resized,
    });
  }
  return { cells, summary };
}

/**
 * The whole matrix. Columns may be given ready (TransferColumn) or lazily (LazyTransferColumn: opened one at a
 * time and released before the next, so only one model is in memory).
 */
export async function transferMatrix(
  rows: readonly TransferRow[],
  columns: ReadonlyArray<TransferColumn | LazyTransferColumn>,
  options: TransferOptions = {},
): Promise<TransferMatrix> {
  if (rows.length === 0) throw new UapError('BAD_ARGUMENT', 'no perturbations', 'perturbations');
  if (columns.length === 0) throw new UapError('BAD_ARGUMENT', 'no models', 'models');
  for (const row of rows) {
    if (row.shape.length !== 3 || row.v.length !== row.shape[0] * row.shape[1] * row.shape[2]) {
      throw new UapError('BAD_INPUT', `has ${row.v.length} values, not ${row.shape.join('×')}`, row.label);
    }
  }
  const cellsByColumn: TransferCell[][] = [];
  const summaries: TransferColumnSummary[] = [];
  for (let c = 0; c < columns.length; c++) {
    const col = columns[c]!;
    const opened = 'open' in col ? await col.open() : col;
    try {
      const { cells, summary } = await transferColumn(opened, rows, { ...options, columnIndex: c, columns: columns.length });
      cellsByColumn.push(cells);
      summaries.push({ ...summary, label: col.label });
    } finally {
      if ('open' in col) await (opened as { release?: () => void | Promise<void> }).release?.();
    }
  }
  return {
    rows: rows.map((r) => ({ label: r.label, shape: [...r.shape] as Shape3, norm: r.norm ?? 'inf', normValue: lpNorm(r.v, r.norm ?? 'inf') })),
    columns: summaries,
    cells: rows.map((_, r) => cellsByColumn.map((col) => col[r]!)),
    clip: options.clip ?? true,
    resize: options.resize ?? false,
  };
}

/** Makes labels unique: later duplicates get " (2)", " (3)" … */
export function uniqueLabels(labels: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const k = (seen.get(l) ?? 0) + 1;
    seen.set(l, k);
    return k === 1 ? l : `${l} (${k})`;
  });
}

/**
 * The matrix as text: one line per perturbation, one column per model, fooling rates (or, with
 * measure 'errorRate', error rates; "n/a" where no label is known) in percent; "size mismatch" where a
 * perturbation does not fit a model, a trailing "r" where it was resized.
 */
export function formatTransferTable(m: TransferMatrix, measure: 'foolingRate' | 'errorRate' = 'foolingRate'): string[] {
  const head = ['perturbation \\ model', ...m.columns.map((c) => c.label)];
  const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`);
  const body = m.rows.map((row, r) => [
    row.label,
    ...m.cells[r]!.map((cell) =>
      cell.status === 'ok' ? `${pct(cell[measure] ?? Number.NaN)}${cell.resized ? ' r' : ''}` : 'size mismatch',
    ),
  ]);
  const widths = head.map((h, j) => Math.max(h.length, ...body.map((b) => b[j]!.length)));
  const line = (cells: string[]) => cells.map((s, j) => (j === 0 ? s.padEnd(widths[j]!) : s.padStart(widths[j]!))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  const acc = m.columns.map((c) => (Number.isNaN(c.accuracyClean) ? 'n/a' : `${(c.accuracyClean * 100).toFixed(1)}%`));
  out.push(line(['(clean top-1 accuracy)', ...acc]));
  out.push(line(['(images)', ...m.columns.map((c) => String(c.n))]));
  return out;
}
