import { z } from 'zod';
import { UapError } from '../errors.js';
import { EvalResultSchema, LabelsResultSchema, SubspaceResultSchema, SweepResultSchema, TransferResultSchema } from '../io/results.js';

/**
 * The JSON files a report reads besides perturbation.json. uap's own result files are parsed with the schemas
 * their writers are checked against (io/results.ts); anything else is parsed loosely: other tools write their
 * own shapes, and the report draws whatever it can recognise. Every reader returns a normalised form or throws
 * UapError BAD_INPUT naming the file. Browser-safe.
 */

/** The finite numbers of `o`'s keys, leaving out nulls (NaN rates in the file). */
function numbers<K extends string>(o: Partial<Record<K, number | null | undefined>>, keys: readonly K[]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const k of keys) {
    const x = o[k];
    if (typeof x === 'number') out[k] = x;
  }
  return out;
}

const num = z.number();
const optNum = z.number().nullable().optional();
const str = z.string();

function problems(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

function parse<T>(schema: z.ZodType<T>, json: unknown, name: string, what: string): T {
  const r = schema.safeParse(json);
  if (!r.success) throw new UapError('BAD_INPUT', `not a ${what}: ${problems(r.error)}`, name);
  return r.data;
}

/** A name from a string or from an object naming something (model, perturbation …). */
function nameOf(x: unknown): string {
  if (typeof x === 'string') return x;
  if (typeof x === 'number') return String(x);
  if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    for (const k of ['name', 'label', 'id', 'modelId', 'model', 'path', 'file', 'dir']) {
      if (typeof o[k] === 'string' || typeof o[k] === 'number') return String(o[k]);
    }
  }
  return '?';
}

/** A rate from a number or an object holding one. */
function rateOf(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    for (const k of ['foolingRate', 'rate', 'value', 'fr']) if (typeof o[k] === 'number') return o[k] as number;
  }
  return Number.NaN;
}

// ---------------------------------------------------------------- sweep.json

export interface SweepPoint {
  size: number;
  foolingRateX?: number;
  foolingRateVal?: number;
  /** Error rates (1 − perturbed accuracy); on held-out images derived from accuracyPerturbedVal in older files. */
  errorRateX?: number;
  errorRateVal?: number;
  accuracyCleanVal?: number;
  accuracyPerturbedVal?: number;
  passes?: number;
  seconds?: number;
}

/** Fills in the held-out error rate of an older sweep from its perturbed accuracy (they are the same measure). */
function withErrorRate(p: SweepPoint): SweepPoint {
  if (p.errorRateVal === undefined && p.accuracyPerturbedVal !== undefined) p.errorRateVal = 1 - p.accuracyPerturbedVal;
  return p;
}

const SweepPointSchema = z.object({
  size: num.optional(),
  n: num.optional(),
  foolingRateX: optNum,
  foolingRateVal: optNum,
  foolingRate: optNum,
  errorRateX: optNum,
  errorRateVal: optNum,
  accuracyCleanVal: optNum,
  accuracyPerturbedVal: optNum,
  passes: optNum,
  seconds: optNum,
});
const SweepSchema = z.union([
  z.array(SweepPointSchema),
  z.object({ sizes: z.array(SweepPointSchema) }).transform((o) => o.sizes),
  z.object({ points: z.array(SweepPointSchema) }).transform((o) => o.points),
  z.object({ sweep: z.array(SweepPointSchema) }).transform((o) => o.sweep),
  z.object({ results: z.array(SweepPointSchema) }).transform((o) => o.results),
]);

export interface Sweep {
  points: SweepPoint[];
  /** What the sweep ran on, when the file says (model, norm, ξ …). */
  meta: Record<string, string>;
}

function metaOf(json: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      if ((typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && String(v).length < 200) out[k] = String(v);
    }
  }
  return out;
}

export function readSweep(json: unknown, name: string): Sweep {
  const ours = SweepResultSchema.safeParse(json);
  if (ours.success) {
    const keys = ['foolingRateX', 'foolingRateVal', 'errorRateX', 'errorRateVal', 'accuracyCleanVal', 'accuracyPerturbedVal', 'passes', 'seconds'] as const;
    const points = ours.data.sizes.map((p) => withErrorRate({ size: p.size, ...numbers(p, keys) })).sort((a, b) => a.size - b.size);
    if (points.length > 0) return { points, meta: metaOf(json) };
  }
  const rows = parse(SweepSchema, json, name, 'sweep (expected [{size, foolingRateX, foolingRateVal, seconds}])');
  const points: SweepPoint[] = [];
  for (const r of rows) {
    const size = r.size ?? r.n;
    if (size === undefined) continue;
    const p: SweepPoint = { size };
    const x = r.foolingRateX ?? r.foolingRate;
    if (typeof x === 'number') p.foolingRateX = x;
    if (typeof r.foolingRateVal === 'number') p.foolingRateVal = r.foolingRateVal;
    if (typeof r.seconds === 'number') p.seconds = r.seconds;
    if (typeof r.passes === 'number') p.passes = r.passes;
    if (typeof r.accuracyCleanVal === 'number') p.accuracyCleanVal = r.accuracyCleanVal;
    if (typeof r.accuracyPerturbedVal === 'number') p.accuracyPerturbedVal = r.accuracyPerturbedVal;
    if (typeof r.errorRateX === 'number') p.errorRateX = r.errorRateX;
    if (typeof r.errorRateVal === 'number') p.errorRateVal = r.errorRateVal;
    points.push(withErrorRate(p));
  }
  if (points.length === 0) throw new UapError('BAD_INPUT', 'a sweep with no points that have a size', name);
  points.sort((a, b) => a.size - b.size);
  return { points, meta: metaOf(json) };
}

// ---------------------------------------------------------------- transfer*.json

export interface TransferMatrix {
  /** Row i: perturbation i (computed on some model). */
  rows: string[];
  /** Column j: the model it was evaluated on. */
  columns: string[];
  /** values[i][j]: fooling rate of perturbation i on model j (NaN when missing). */
  values: number[][];
  /** errors[i][j]: error rate (1 − perturbed accuracy) of perturbation i on model j (NaN: no labels), when the file has them. */
  errors?: number[][];
  meta: Record<string, string>;
}

const Labelish = z.union([str, num, z.record(z.string(), z.unknown())]);
const Cell = z.union([num, z.null(), z.record(z.string(), z.unknown())]);
const MatrixSchema = z.array(z.array(Cell));
const EntrySchema = z.object({
  perturbation: Labelish.optional(),
  from: Labelish.optional(),
  source: Labelish.optional(),
  row: Labelish.optional(),
  model: Labelish.optional(),
  to: Labelish.optional(),
  target: Labelish.optional(),
  column: Labelish.optional(),
  foolingRate: num.optional(),
  rate: num.optional(),
  value: num.optional(),
});
const TransferObject = z.object({
  rows: z.array(Labelish).optional(),
  perturbations: z.array(Labelish).optional(),
  sources: z.array(Labelish).optional(),
  columns: z.array(Labelish).optional(),
  cols: z.array(Labelish).optional(),
  models: z.array(Labelish).optional(),
  targets: z.array(Labelish).optional(),
  matrix: MatrixSchema.optional(),
  values: MatrixSchema.optional(),
  foolingRates: MatrixSchema.optional(),
  rates: MatrixSchema.optional(),
  // uap transfer writes `cells` as a matrix of objects beside `foolingRates`; a flat list is entries.
  entries: z.unknown().optional(),
  cells: z.unknown().optional(),
  results: z.unknown().optional(),
});

function fromEntries(entries: z.infer<typeof EntrySchema>[]): Pick<TransferMatrix, 'rows' | 'columns' | 'values'> {
  const rows: string[] = [];
  const columns: string[] = [];
  const cells = new Map<string, number>();
  for (const e of entries) {
    const r = nameOf(e.perturbation ?? e.from ?? e.source ?? e.row);
    const c = nameOf(e.model ?? e.to ?? e.target ?? e.column);
    if (!rows.includes(r)) rows.push(r);
    if (!columns.includes(c)) columns.push(c);
    cells.set(`${r}\u0000${c}`, e.foolingRate ?? e.rate ?? e.value ?? Number.NaN);
  }
  return { rows, columns, values: rows.map((r) => columns.map((c) => cells.get(`${r}\u0000${c}`) ?? Number.NaN)) };
}

export function readTransfer(json: unknown, name: string): TransferMatrix {
  const ours = TransferResultSchema.safeParse(json);
  if (ours.success && ours.data.rows.length > 0 && ours.data.columns.length > 0) {
    const t = ours.data;
    const errors = t.errorRates?.map((r) => r.map((c) => c ?? Number.NaN));
    return {
      rows: t.rows.map((r) => r.label),
      columns: t.columns.map((c) => c.label),
      values: t.foolingRates.map((r) => r.map((c) => c ?? Number.NaN)),
      ...(errors && errors.some((r) => r.some((x) => !Number.isNaN(x))) ? { errors } : {}),
      meta: metaOf(json),
    };
  }
  const what = 'transfer matrix (expected {rows|perturbations, columns|models, matrix|foolingRates} or [{perturbation, model, foolingRate}])';
  if (Array.isArray(json)) return { ...fromEntries(parse(z.array(EntrySchema), json, name, what)), meta: {} };
  const o = parse(TransferObject, json, name, what);
  const entryList = [o.entries, o.cells, o.results].find(
    (e) => Array.isArray(e) && e.length > 0 && e.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x)),
  );
  const entries = entryList === undefined ? undefined : parse(z.array(EntrySchema), entryList, name, what);
  const cellMatrix = Array.isArray(o.cells) && o.cells.every(Array.isArray) ? parse(MatrixSchema, o.cells, name, what) : undefined;
  const matrix = o.matrix ?? o.foolingRates ?? o.values ?? o.rates ?? cellMatrix;
  let m: Pick<TransferMatrix, 'rows' | 'columns' | 'values'>;
  if (matrix) {
    const values = matrix.map((row) => row.map((c) => (c === null ? Number.NaN : rateOf(c))));
    const rowLabels = (o.rows ?? o.perturbations ?? o.sources)?.map(nameOf) ?? values.map((_, i) => `#${i + 1}`);
    const colLabels =
      (o.columns ?? o.cols ?? o.models ?? o.targets)?.map(nameOf) ?? (values[0] ?? []).map((_, j) => `#${j + 1}`);
    if (values.length !== rowLabels.length || values.some((r) => r.length !== colLabels.length)) {
      throw new UapError('BAD_INPUT', `a ${values.length}-row matrix does not match ${rowLabels.length} rows × ${colLabels.length} columns`, name);
    }
    m = { rows: rowLabels, columns: colLabels, values };
  } else if (entries) {
    m = fromEntries(entries);
  } else {
    throw new UapError('BAD_INPUT', `not a ${what}: no matrix or entries`, name);
  }
  if (m.rows.length === 0 || m.columns.length === 0) throw new UapError('BAD_INPUT', 'an empty transfer matrix', name);
  return { ...m, meta: metaOf(json) };
}

// ---------------------------------------------------------------- subspace.json

export interface Subspace {
  singularValues: number[];
  randomSingularValues?: number[];
  /** Fooling rate of random vectors from the subspace, by its dimension when known. */
  foolingRates?: Array<{ dim: number; foolingRate: number }>;
  randomFoolingRate?: number;
  meta: Record<string, string>;
}

const SubspaceSchema = z.object({
  singularValues: z.array(num).min(1),
  randomSingularValues: z.array(num).optional(),
  foolingRates: z
    .union([z.array(num), z.array(z.record(z.string(), z.unknown())), z.record(z.string(), num)])
    .optional(),
  dims: z.array(num).optional(),
  randomFoolingRate: z.union([num, z.null(), z.record(z.string(), z.unknown())]).optional(),
});

export function readSubspace(json: unknown, name: string): Subspace {
  const ours = SubspaceResultSchema.safeParse(json);
  if (ours.success && ours.data.singularValues.length > 0) {
    const s = ours.data;
    return {
      singularValues: s.singularValues,
      ...(s.randomSingularValues.length ? { randomSingularValues: s.randomSingularValues } : {}),
      ...(s.foolingRates.length ? { foolingRates: s.foolingRates.map((r) => ({ dim: r.dim, foolingRate: r.foolingRate })).sort((a, b) => a.dim - b.dim) } : {}),
      randomFoolingRate: s.randomFoolingRate.foolingRate,
      meta: metaOf(json),
    };
  }
  const o = parse(SubspaceSchema, json, name, 'subspace analysis (expected {singularValues, randomSingularValues, foolingRates, randomFoolingRate})');
  const out: Subspace = { singularValues: o.singularValues, meta: metaOf(json) };
  if (o.randomSingularValues?.length) out.randomSingularValues = o.randomSingularValues;
  const rfr = o.randomFoolingRate === null || o.randomFoolingRate === undefined ? Number.NaN : rateOf(o.randomFoolingRate);
  if (Number.isFinite(rfr)) out.randomFoolingRate = rfr;
  const fr = o.foolingRates;
  if (fr) {
    let list: Array<{ dim: number; foolingRate: number }> = [];
    if (Array.isArray(fr)) {
      list = (fr as unknown[]).map((e, i) => {
        if (typeof e === 'number') return { dim: o.dims?.[i] ?? i + 1, foolingRate: e };
        const r = e as Record<string, unknown>;
        const dim = [r.dim, r.d, r.k, r.dimension, r.size].find((x) => typeof x === 'number') as number | undefined;
        return { dim: dim ?? o.dims?.[i] ?? i + 1, foolingRate: rateOf(e) };
      });
    } else {
      list = Object.entries(fr).map(([k, v]) => ({ dim: Number(k), foolingRate: v }));
    }
    list = list.filter((e) => Number.isFinite(e.dim) && Number.isFinite(e.foolingRate)).sort((a, b) => a.dim - b.dim);
    if (list.length) out.foolingRates = list;
  }
  return out;
}

// ---------------------------------------------------------------- dominant labels

export interface DominantLabels {
  /** Largest first. `share` in [0, 1] when known; `count` when known. */
  labels: Array<{ label: string; count?: number; share?: number }>;
  meta: Record<string, string>;
}

const LabelEntry = z
  .object({
    label: Labelish.optional(),
    name: Labelish.optional(),
    className: Labelish.optional(),
    class: Labelish.optional(),
    id: Labelish.optional(),
    index: num.optional(),
    count: num.optional(),
    share: num.optional(),
    fraction: num.optional(),
    rate: num.optional(),
  })
  .refine((e) => e.count !== undefined || e.share !== undefined || e.fraction !== undefined || e.rate !== undefined, 'needs a count or a share');
const DominantSchema = z.union([
  z.array(LabelEntry),
  z.object({ labels: z.array(LabelEntry) }).transform((o) => o.labels),
  z.object({ dominant: z.array(LabelEntry) }).transform((o) => o.dominant),
  z.object({ top: z.array(LabelEntry) }).transform((o) => o.top),
  z.object({ classes: z.array(LabelEntry) }).transform((o) => o.classes),
  z.object({ counts: z.array(LabelEntry) }).transform((o) => o.counts),
  z.object({ counts: z.record(z.string(), num) }).transform((o) => Object.entries(o.counts).map(([label, count]) => ({ label, count }))),
]);

export function readDominantLabels(json: unknown, name: string): DominantLabels {
  const ours = LabelsResultSchema.safeParse(json);
  if (ours.success) {
    const labels = ours.data.top.map((t) => ({ label: t.name ?? t.id ?? String(t.index), count: t.count, share: t.share }));
    return { labels, meta: metaOf(json) };
  }
  const entries = parse(DominantSchema, json, name, 'dominant-label list (expected [{label, count|share}])');
  const labels = entries.map((e) => {
    const raw = e as Record<string, unknown>;
    const label = nameOf(raw.name ?? raw.label ?? raw.className ?? raw.class ?? raw.id ?? raw.index);
    const share = (raw.share ?? raw.fraction ?? raw.rate) as number | undefined;
    const out: { label: string; count?: number; share?: number } = { label };
    if (typeof raw.count === 'number') out.count = raw.count;
    if (typeof share === 'number') out.share = share;
    return out;
  });
  labels.sort((a, b) => (b.share ?? b.count ?? 0) - (a.share ?? a.count ?? 0));
  return { labels, meta: metaOf(json) };
}

// ---------------------------------------------------------------- eval JSON (uap eval --json)

export interface EvalResult {
  foolingRate: number;
  /** 1 − accuracyPerturbed (older files: derived from it); absent when no label was known. */
  errorRate?: number;
  accuracyClean?: number;
  accuracyPerturbed?: number;
  n?: number;
  model?: string;
  data?: string;
  perturbation?: string;
  clip?: boolean;
}

const EvalSchema = z.object({
  foolingRate: num,
  errorRate: optNum,
  accuracyClean: optNum,
  accuracyPerturbed: optNum,
  n: optNum,
  model: Labelish.optional(),
  data: Labelish.optional(),
  perturbation: Labelish.optional(),
  clip: z.boolean().optional(),
});

export function readEval(json: unknown, name: string): EvalResult[] {
  const ours = EvalResultSchema.safeParse(json);
  if (ours.success && ours.data.foolingRate !== undefined) {
    const e = ours.data;
    const out: EvalResult = { foolingRate: e.foolingRate!, n: e.n, model: e.model, data: e.data, ...numbers(e, ['errorRate', 'accuracyClean', 'accuracyPerturbed'] as const) };
    if (e.perturbation !== undefined) out.perturbation = e.perturbation;
    if (e.clip !== undefined) out.clip = e.clip;
    return [withEvalErrorRate(out)];
  }
  const list = parse(z.union([EvalSchema, z.array(EvalSchema).min(1)]), json, name, 'evaluation (expected {foolingRate, accuracyClean, accuracyPerturbed, n})');
  return (Array.isArray(list) ? list : [list]).map((e) => {
    const out: EvalResult = { foolingRate: e.foolingRate };
    if (typeof e.accuracyClean === 'number') out.accuracyClean = e.accuracyClean;
    if (typeof e.accuracyPerturbed === 'number') out.accuracyPerturbed = e.accuracyPerturbed;
    if (typeof e.errorRate === 'number') out.errorRate = e.errorRate;
    if (typeof e.n === 'number') out.n = e.n;
    if (e.model !== undefined) out.model = nameOf(e.model);
    if (e.data !== undefined) out.data = nameOf(e.data);
    if (e.perturbation !== undefined) out.perturbation = nameOf(e.perturbation);
    if (e.clip !== undefined) out.clip = e.clip;
    return withEvalErrorRate(out);
  });
}

/** The error rate of an evaluation that states only the perturbed accuracy (older files): 1 − that accuracy. */
function withEvalErrorRate(e: EvalResult): EvalResult {
  if (e.errorRate === undefined && e.accuracyPerturbed !== undefined) e.errorRate = 1 - e.accuracyPerturbed;
  return e;
}

// ---------------------------------------------------------------- samples.json

const Prediction = z.object({
  /** data:image/png;base64,… */
  src: z.string().startsWith('data:image/'),
  label: z.string(),
  index: z.number().int().optional(),
  /** Softmax probability of the top-1 class. */
  prob: z.number().optional(),
});

export const SampleSchema = z.object({
  name: z.string().optional(),
  trueLabel: z.string().optional(),
  clean: Prediction,
  perturbed: Prediction,
});

export const SampleSetSchema = z.object({
  model: z.string().optional(),
  perturbation: z.string().optional(),
  clip: z.boolean().optional(),
  /** [H, W, C] of the pictures. */
  shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]).optional(),
  samples: z.array(SampleSchema),
});

export type Sample = z.infer<typeof SampleSchema>;
export type SampleSet = z.infer<typeof SampleSetSchema>;

export function readSamples(json: unknown, name: string): SampleSet {
  const j = Array.isArray(json) ? { samples: json } : json;
  return parse(SampleSetSchema, j, name, 'sample set (expected {samples: [{clean: {src, label}, perturbed: {src, label}}]})');
}
