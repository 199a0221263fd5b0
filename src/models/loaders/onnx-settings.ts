import { z } from 'zod';
import { UapError } from '../../errors.js';
import { imagenetLabels } from '../imagenet-classes.js';
import type { Labels } from '../labels.js';
import type { ModelFolder } from '../model-io.js';
import type { ModelProto } from '../onnx/proto.js';
import type { LabelLayout } from '../zoo.js';
import { appendGather, type LoadedNet, type Preprocessing } from './common.js';

/**
 * What an ONNX file may leave unsaid, and where the importer looks for it (src/models/loaders/onnx.ts):
 * metadata_props and a sidecar `<file>.json` with the same keys — layout, inputSize, preprocessing, labels —
 * checked by one schema, so a typo is one line naming the file and the key.
 */

export type OnnxLayout = 'nchw' | 'nhwc';

/** What a caller (CLI flags, LoadOptions.onnx) may say about an ONNX model the file does not. */
export interface OnnxInputOptions {
  layout?: OnnxLayout;
  /** [H, W] for inputs with dynamic spatial dimensions. */
  inputSize?: [number, number];
}

/** A converted net, with the labels its file (metadata or sidecar) named, if any. */
export interface OnnxLoaded extends LoadedNet {
  labelLayout?: LabelLayout;
  labels?: Labels;
}

/** torchvision's ImageNet normalisation, as pixels → input: x = (p / 255 − mean) / std. */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
export const TORCHVISION_PREPROCESSING: Preprocessing = {
  scale: STD.map((s) => 1 / (255 * s)),
  shift: MEAN.map((m, i) => -m / STD[i]!),
};

const Settings = z.strictObject({
  layout: z.enum(['NCHW', 'NHWC', 'nchw', 'nhwc']).optional(),
  inputSize: z.union([z.number().int().positive(), z.tuple([z.number().int().positive(), z.number().int().positive()])]).optional(),
  preprocessing: z
    .strictObject({
      scale: z.union([z.number(), z.array(z.number())]),
      shift: z.union([z.number(), z.array(z.number())]),
      reverseChannels: z.boolean().optional(),
    })
    .optional(),
  labels: z.union([z.enum(['imagenet', 'imagenet-background', 'darknet', 'digits']), z.array(z.string()).min(1)]).optional(),
});
export type OnnxSettings = z.infer<typeof Settings>;

export function parseSettings(value: unknown, where: string): OnnxSettings {
  const r = Settings.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new UapError('BAD_MODEL', `${i.path.length ? i.path.join('.') : 'settings'}: ${i.message}`, where);
  }
  return r.data;
}

/** metadata_props → settings (values are JSON, or plain strings for layout and labels). */
export function metadataSettings(m: ModelProto, where: string): OnnxSettings {
  const keys = ['layout', 'inputSize', 'preprocessing', 'labels'];
  const out: Record<string, unknown> = {};
  for (const p of m.metadataProps ?? []) {
    if (!p.key || !keys.includes(p.key) || p.value === null || p.value === undefined) continue;
    let v: unknown = p.value;
    try {
      v = JSON.parse(p.value);
    } catch {
      // a plain string such as NCHW
    }
    out[p.key] = v;
  }
  return parseSettings(out, `${where} (metadata_props)`);
}

/** Reads `<file>.json` beside the model: undefined when there is none. */
export async function readSidecar(folder: ModelFolder, file: string, source: string): Promise<unknown> {
  let text: string | undefined;
  try {
    text = new TextDecoder().decode(await folder.read(`${file}.json`));
  } catch (e) {
    if (!(e instanceof UapError && e.code === 'NOT_FOUND')) throw e;
  }
  // A static host or dev server may answer a missing file with its HTML page: no sidecar then.
  if (text === undefined || text.trimStart().startsWith('<')) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UapError('BAD_MODEL', `is not valid JSON (${(e as Error).message})`, `${source}.json`);
  }
}

/** The labels the file's metadata or sidecar names: a layout name, or one label per output. */
export function applyLabels(loaded: LoadedNet, labels: OnnxSettings['labels'], source: string): OnnxLoaded {
  if (labels === undefined) return loaded;
  if (typeof labels === 'string') return { ...loaded, labelLayout: labels };
  if (labels.length !== loaded.outputs) throw new UapError('BAD_MODEL', `labels lists ${labels.length} names for ${loaded.outputs} outputs`, source);
  const std = imagenetLabels();
  const pos = new Map(labels.map((w, i) => [w, i]));
  if (std.ids.every((w) => pos.has(w))) {
    // ImageNet wnids in the file's own order: reorder the logits to the standard one.
    const gather = Int32Array.from(std.ids, (w) => pos.get(w)!);
    return { net: appendGather(loaded.net, gather), outputs: gather.length, labelLayout: 'imagenet' satisfies LabelLayout };
  }
  return { ...loaded, labels: { ids: [...labels], names: [...labels] } };
}
