import { z } from 'zod';
import { UapError } from '../errors.js';
import { PassRecordSchema } from './perturbation-record.js';

/**
 * The result files uap writes besides perturbation.json (io/perturbation-record.ts), each defined once: the
 * command that writes one checks it against its schema before a byte is written (serializeResult), and a reader
 * parses it with the same schema (parseResult). A rate that is undefined (no labelled image) is NaN in memory
 * and null in the file, which is what JSON.stringify makes of NaN. Browser-safe.
 */

const rate = z.number().min(0).max(1);
/** A rate that may be undefined (NaN in memory, null in JSON). */
const maybeRate = rate.nullable();
const count = z.number().int().nonnegative();
const shape3 = z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]);
const norm = z.union([z.literal('inf'), z.literal(2), z.literal(1)]);
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO date');

/** `uap eval --json`: a perturbation's (or random noise's) effect, or, with neither, the model's accuracy. */
export const EvalResultSchema = z.object({
  model: z.string(),
  data: z.string(),
  n: count,
  labelled: count,
  /** With a perturbation: what it was (a file, or "random sign noise, ‖·‖∞ = 10"). */
  perturbation: z.string().optional(),
  clip: z.boolean().optional(),
  /** The paper's fooling rate: share of images whose top-1 on clip(x + v) differs from their top-1 on x. */
  foolingRate: rate.optional(),
  /** 1 − accuracyPerturbed (wrong against the true labels; SGA's and ART's "fooling rate"); null: no labels. */
  errorRate: maybeRate.optional(),
  accuracyClean: maybeRate.optional(),
  accuracyPerturbed: maybeRate.optional(),
  /** Without a perturbation: the clean accuracy. */
  accuracyTop1: maybeRate.optional(),
  accuracyTop5: maybeRate.optional(),
  target: count.optional(),
  targetName: z.string().optional(),
  targetSuccess: rate.optional(),
  /** With a perturbation: its ‖v‖∞ and ‖v‖₂ in pixels, and the norm and ξ its record states (if it has one). */
  normInf: z.number().nonnegative().optional(),
  norm2: z.number().nonnegative().optional(),
  recordNorm: z.union([z.literal('inf'), z.literal(2), z.literal(1)]).optional(),
  recordXi: z.number().positive().optional(),
});

/** One |X| of sweep.json (the perturbation itself is in n-SIZE/perturbation.npy). */
const SweepSizeSchema = z.object({
  size: z.number().int().positive(),
  foolingRateX: maybeRate,
  foolingRateVal: maybeRate,
  /** Error rates (1 − perturbed accuracy) on X and on the validation images; null: no labels; absent before 0.2. */
  errorRateX: maybeRate.optional(),
  errorRateVal: maybeRate.optional(),
  accuracyCleanVal: maybeRate,
  accuracyPerturbedVal: maybeRate,
  passes: count,
  /** The attack's pass records (those of perturbation.json without their `norm`). */
  history: z.array(PassRecordSchema.partial({ norm: true })),
  seconds: z.number().nonnegative(),
  dir: z.string(),
});

/** sweep.json of `uap sweep`: the fooling rate on validation images against |X| (the paper's Fig. 6). */
export const SweepResultSchema = z.object({
  model: z.string(),
  modelId: z.string(),
  data: z.string(),
  val: z.string(),
  nVal: count,
  norm,
  xi: z.number().positive(),
  seed: z.number().int(),
  clip: z.boolean(),
  options: z.record(z.string(), z.unknown()),
  backend: z.string(),
  createdAt: isoDate,
  sizes: z.array(SweepSizeSchema),
});

const TransferCellSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('ok'),
    foolingRate: rate,
    /** 1 − accuracyPerturbed; null: no labels; absent in files before 0.2. */
    errorRate: maybeRate.optional(),
    accuracyClean: maybeRate,
    accuracyPerturbed: maybeRate,
    n: count,
    resized: z.boolean(),
  }),
  z.object({ status: z.literal('size-mismatch'), perturbationShape: shape3, modelShape: shape3, reason: z.string() }),
]);

/** `uap transfer --out`: fooling rates of perturbations (rows) on models (columns) (the paper's Table 2). */
export const TransferResultSchema = z.object({
  data: z.string(),
  limit: z.number().int().positive().nullable(),
  seed: z.number().int(),
  clip: z.boolean(),
  resize: z.boolean(),
  rows: z.array(z.object({ label: z.string(), shape: shape3, norm, normValue: z.number().nonnegative(), source: z.string(), modelId: z.string().nullable().optional() })),
  columns: z.array(z.object({ label: z.string(), modelId: z.string(), inputShape: shape3, n: count, accuracyClean: maybeRate, model: z.string() })),
  /** foolingRates[row][column]; null where the perturbation does not fit the model. */
  foolingRates: z.array(z.array(rate.nullable())),
  /** errorRates[row][column] (1 − perturbed accuracy); null where it does not fit or no label is known; absent before 0.2. */
  errorRates: z.array(z.array(rate.nullable())).optional(),
  cells: z.array(z.array(TransferCellSchema)),
  createdAt: isoDate,
});

/** `uap labels --json`: the labels fooled images are sent to (the paper's Fig. 7). */
export const LabelsResultSchema = z.object({
  model: z.string(),
  perturbation: z.string(),
  data: z.string(),
  foolingRate: rate,
  /** 1 − perturbed accuracy over the labelled images; null: no labels; absent before 0.2. */
  errorRate: maybeRate.optional(),
  n: count,
  fooled: count,
  distinct: count,
  top: z.array(z.object({ index: count, id: z.string().optional(), name: z.string().optional(), count, share: rate })),
  topShare: maybeRate,
});

/** subspace.json of `uap subspace`: singular values of the decision-boundary normals (the paper's Sec. 4). */
export const SubspaceResultSchema = z.object({
  model: z.string(),
  modelId: z.string(),
  data: z.string(),
  limit: z.number().int().positive().nullable(),
  val: z.string(),
  seed: z.number().int(),
  clip: z.boolean(),
  deepfool: z.record(z.string(), z.unknown()),
  attempted: count,
  normals: count,
  d: z.number().int().positive(),
  singularValues: z.array(z.number()),
  randomSingularValues: z.array(z.number()),
  meanDistance: z.number().nullable(),
  xi: z.number().positive(),
  nEval: count,
  foolingRates: z.array(z.object({ dim: z.number().int().positive(), foolingRate: rate }).loose()),
  randomFoolingRate: z.object({ foolingRate: rate, samples: z.array(rate) }),
  wallSeconds: z.number().nonnegative(),
  createdAt: isoDate,
});

const attackRecord = z.object({ seed: z.number().int(), foolingRateOnX: maybeRate, passes: count, seconds: z.number().nonnegative(), normInf: z.number().nonnegative() });
const side = z.object({
  cleanAccuracy: maybeRate,
  poolFoolingRates: z.array(rate),
  freshFoolingRate: rate,
  freshAccuracyPerturbed: maybeRate,
  /** Absent in harden.json files written before the error rate was recorded. */
  freshErrorRate: maybeRate.optional(),
  fresh: attackRecord,
});

/** harden.json of `uap harden`: accuracy and fooling rates before and after hardening (the paper's Sec. 3). */
export const HardenResultSchema = z.object({
  formatVersion: z.literal(1),
  method: z.enum(['finetune', 'uat']),
  model: z.string(),
  hardenedModel: z.string(),
  settings: z.record(z.string(), z.unknown()),
  before: side,
  after: side,
  pool: z.array(attackRecord),
  training: z.record(z.string(), z.unknown()),
  wallSeconds: z.object({
    pool: z.number().nonnegative(),
    training: z.number().nonnegative(),
    freshBefore: z.number().nonnegative(),
    freshAfter: z.number().nonnegative(),
    evaluation: z.number().nonnegative(),
    total: z.number().nonnegative(),
  }),
  backend: z.string(),
  tfjsVersion: z.string(),
  packageVersion: z.string(),
  createdAt: isoDate,
  resumed: z.literal(true).optional(),
});

/** What `uap eval --json` prints, as EvalResultSchema defines it. */
export type EvalResultFile = z.infer<typeof EvalResultSchema>;
/** A sweep.json (`uap sweep`), as SweepResultSchema defines it. */
export type SweepResultFile = z.infer<typeof SweepResultSchema>;
/** The transfer matrix `uap transfer` writes, as TransferResultSchema defines it. */
export type TransferResultFile = z.infer<typeof TransferResultSchema>;
/** What `uap labels --json` prints, as LabelsResultSchema defines it. */
export type LabelsResultFile = z.infer<typeof LabelsResultSchema>;
/** A subspace.json (`uap subspace`), as SubspaceResultSchema defines it. */
export type SubspaceResultFile = z.infer<typeof SubspaceResultSchema>;
/** A harden.json (`uap harden`), as HardenResultSchema defines it. */
export type HardenResultFile = z.infer<typeof HardenResultSchema>;

function problems(err: z.ZodError): string {
  const listed = err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
  return err.issues.length > 5 ? `${listed} (and ${err.issues.length - 5} more)` : listed;
}

/**
 * The JSON text of a result, checked against its schema first: a writer that would produce a file its reader
 * refuses fails here, before writing (UapError BAD_INPUT naming `name`). Extra fields are kept.
 */
export function serializeResult(schema: z.ZodType, value: unknown, name: string, indent = 2): string {
  const text = JSON.stringify(value, null, indent);
  const r = schema.safeParse(JSON.parse(text));
  if (!r.success) throw new UapError('BAD_INPUT', `refusing to write an invalid result: ${problems(r.error)}`, name);
  return text;
}

/** Parses a result file's JSON with its schema; UapError BAD_INPUT naming `name` and the problems otherwise. */
export function parseResult<T>(schema: z.ZodType<T>, json: unknown, name: string, what: string): T {
  const r = schema.safeParse(json);
  if (!r.success) throw new UapError('BAD_INPUT', `not a valid ${what}: ${problems(r.error)}`, name);
  return r.data;
}
