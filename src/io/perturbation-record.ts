import { z } from 'zod';
import { UapError } from '../errors.js';

/**
 * perturbation.json: everything needed to know where a perturbation came from and to reproduce it.
 * Browser-safe. The perturbation itself is perturbation.npy (float32 HWC, pixel units).
 */

export const PERTURBATION_FORMAT_VERSION = 1;

const posInt = z.number().int().positive();
const nonNeg = z.number().finite().nonnegative();
const rate = z.number().min(0).max(1);

export const PassRecordSchema = z.object({
  /** 1-based pass over X. */
  pass: z.number().int().nonnegative(),
  /** Fooling rate on X after this pass, in [0, 1]: top-1 on clip(x + v) differs from top-1 on x. */
  foolingRate: rate,
  /** Error rate on X after this pass (wrong against the true labels); absent when X has no labels (and before 0.2). */
  errorRate: rate.optional(),
  /** Algorithm 1: how many images needed a DeepFool step in this pass (absent for SGD; records before 0.2 hold 0). */
  deepfoolCalls: z.number().int().nonnegative().optional(),
  seconds: nonNeg,
  /** ‖v‖ in the record's norm after this pass. */
  norm: nonNeg,
  /** Algorithm 1: DeepFool steps that converged and moved v; SGD: optimiser steps. */
  updates: z.number().int().nonnegative().optional(),
  normInf: nonNeg.optional(),
  norm2: nonNeg.optional(),
  /** SGD: mean loss over the epoch. */
  loss: z.number().optional(),
  /** Targeted runs: share of X sent to the target. */
  targetSuccess: rate.optional(),
});

export const PerturbationRecordSchema = z.object({
  formatVersion: z.literal(PERTURBATION_FORMAT_VERSION),
  /** The classifier it was computed against (zoo id or path). */
  modelId: z.string().min(1),
  /** [H, W, C] of the perturbation = the model's input. */
  inputShape: z.tuple([posInt, posInt, posInt]),
  norm: z.union([z.literal('inf'), z.literal(2), z.literal(1)]),
  /** The norm bound ξ, in pixel units (0..255 scale). */
  xi: z.number().finite().positive(),
  /** 'deepfool' (Algorithm 1), 'sgd', 'targeted', 'random', 'imported' … */
  method: z.string().min(1),
  /** The attack's remaining options (δ, overshoot, candidates …), free-form. */
  options: z.record(z.string(), z.unknown()),
  seed: z.number().int(),
  backend: z.string(),
  tfjsVersion: z.string(),
  packageVersion: z.string(),
  /** The data set X it was computed on. */
  data: z.object({ spec: z.string().min(1), n: z.number().int().nonnegative() }),
  /** Whether x + v was clipped to 0..255 during the computation. */
  clip: z.boolean(),
  history: z.array(PassRecordSchema),
  foolingRateOnX: rate,
  /**
   * Error rate on X of the saved v: share of X's labelled images whose top-1 on clip(x + v) is not their label
   * (1 − perturbed accuracy). null: X has no labels (a prior, a folder without labels); absent in older records.
   */
  errorRateOnX: rate.nullable().optional(),
  /** Clean top-1 accuracy on X's labelled images; null when none is labelled; absent in older records. */
  accuracyCleanOnX: rate.nullable().optional(),
  wallSeconds: nonNeg,
  /** ISO 8601 time stamp. */
  createdAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO date'),
  /** For targeted perturbations: the class everything is pushed to. */
  target: z
    .object({ index: z.number().int().nonnegative(), id: z.string().optional(), name: z.string().optional() })
    .optional(),
});

/**
 * The contents of perturbation.json: settings, data, backend, per-pass history and results of a computed
 * perturbation.
 */
export type PerturbationRecord = z.infer<typeof PerturbationRecordSchema>;

/** Validates parsed JSON as a record; UapError BAD_INPUT naming `name` and every problem otherwise. */
export function parsePerturbationRecord(json: unknown, name: string): PerturbationRecord {
  if (
    typeof json === 'object' &&
    json !== null &&
    typeof (json as { formatVersion?: unknown }).formatVersion === 'number' &&
    (json as { formatVersion: number }).formatVersion > PERTURBATION_FORMAT_VERSION
  ) {
    throw new UapError(
      'BAD_INPUT',
      `format version ${(json as { formatVersion: number }).formatVersion} was written by a newer uap (this one reads ${PERTURBATION_FORMAT_VERSION})`,
      name,
    );
  }
  const r = PerturbationRecordSchema.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; ');
    const more = r.error.issues.length > 5 ? ` (and ${r.error.issues.length - 5} more)` : '';
    throw new UapError('BAD_INPUT', `not a valid perturbation record: ${problems}${more}`, name);
  }
  return r.data;
}

/** Parses perturbation.json text. */
export function parsePerturbationJson(text: string, name: string): PerturbationRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UapError('BAD_INPUT', `not valid JSON (${(e as Error).message})`, name);
  }
  return parsePerturbationRecord(json, name);
}

export function formatShape(shape: readonly number[]): string {
  return shape.join('×');
}

/**
 * Checks a perturbation's values against its shape and the model's input; returns the shape as [H, W, C]
 * (leading axes of size 1 are dropped, so a [1, 224, 224, 3] array is accepted).
 * UapError BAD_INPUT naming `name`: wrong length, not 3-D, NaN/±Inf (how many, and the first), or a shape
 * other than `expectedShape` (when given).
 */
export function validatePerturbation(
  data: Float32Array,
  shape: readonly number[],
  expectedShape: readonly number[] | undefined,
  name: string,
): [number, number, number] {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new UapError('BAD_INPUT', `has ${data.length} values, but its shape ${formatShape(shape)} needs ${count}`, name);
  }
  let s = [...shape];
  while (s.length > 3 && s[0] === 1) s = s.slice(1);
  if (s.length !== 3 || s.some((d) => d <= 0)) {
    throw new UapError('BAD_INPUT', `shape [${shape.join(', ')}] is not an image (expected H×W×C)`, name);
  }
  const hwc = s as [number, number, number];
  let bad = 0;
  let first = -1;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad > 0) {
    const [, w, c] = hwc;
    const y = Math.floor(first / (w * c));
    const x = Math.floor(first / c) % w;
    const ch = first % c;
    throw new UapError(
      'BAD_INPUT',
      `contains ${bad} non-finite value${bad === 1 ? '' : 's'} (NaN or ±Inf); the first is ${data[first]} at index ${first} (row ${y}, column ${x}, channel ${ch})`,
      name,
    );
  }
  if (expectedShape && (expectedShape.length !== 3 || hwc.some((d, i) => d !== expectedShape[i]))) {
    throw new UapError(
      'BAD_INPUT',
      `computed at ${formatShape(hwc)}, model takes ${formatShape(expectedShape)}`,
      name,
      { hint: { option: 'resize', text: `to resize the perturbation to ${formatShape(expectedShape)}` } },
    );
  }
  return hwc;
}
