import { z } from 'zod';

/**
 * apply.json of `uap apply` (and its --json): one record per photo — where the copy went, its format, size and
 * quality, and with --check, per model, top-1 before and after (the paper's fooling criterion: changed or not),
 * PSNR and SSIM of the copy against the original at full size, and file sizes. Checked with the same schema when
 * written (serializeResult) and read (parseResult, e.g. by the report). Browser-safe.
 */

const count = z.number().int().nonnegative();
const rate = z.number().min(0).max(1);

const LabelSchema = z.object({ index: count, name: z.string() });

/** One model's verdict on one photo: top-1 of the original and of the re-decoded copy. */
export const ApplyCheckSchema = z.object({
  model: z.string(),
  before: LabelSchema,
  after: LabelSchema,
  changed: z.boolean(),
});

/** One photo of apply.json: where its copy went, how it was written, and with --check how it fared. */
export const AppliedPhotoSchema = z.object({
  input: z.string(),
  output: z.string(),
  status: z.enum(['written', 'skipped', 'failed']),
  error: z.string().optional(),
  format: z.enum(['jpeg', 'png', 'webp']).optional(),
  width: count.optional(),
  height: count.optional(),
  channels: count.optional(),
  depth: count.optional(),
  quality: count.optional(),
  bytesIn: count.optional(),
  bytesOut: count.optional(),
  /** With --check: PSNR (dB; null when the copy is identical) and SSIM (ssim.js, mean SSIM) against the original. */
  psnr: z.number().nullable().optional(),
  ssim: z.number().optional(),
  checks: z.array(ApplyCheckSchema).optional(),
});

/** apply.json: the settings of a `uap apply` run and one record per photo. */
export const ApplyResultSchema = z.object({
  perturbation: z.string(),
  vShape: z.tuple([count, count, count]),
  fit: z.enum(['photo', 'crop']),
  quality: count.nullable(),
  /** JPEG chroma subsampling of the copies (`--chroma`); absent in files written before it was recorded. */
  chroma: z.enum(['source', '4:2:0', '4:4:4']).optional(),
  stripMetadata: z.boolean(),
  outDir: z.string(),
  n: count,
  written: count,
  skipped: count,
  failed: count,
  /** With --check: per model, the share of checked photos whose top-1 changed. */
  changedRate: z.record(z.string(), rate).optional(),
  photos: z.array(AppliedPhotoSchema),
});

/** apply.json as parsed by {@link ApplyResultSchema}. */
export type ApplyResultFile = z.infer<typeof ApplyResultSchema>;
/** One photo of apply.json ({@link AppliedPhotoSchema}). */
export type AppliedPhotoRecord = z.infer<typeof AppliedPhotoSchema>;
