import { UapError } from '../errors.js';
import { download, DEFAULT_DOWNLOAD_MAX_BYTES, type DownloadOptions, type FetchLike } from '../io/download.js';
import { appendGather, type LoadedNet, type Preprocessing } from './loaders/common.js';
import { graphModelToNet } from './loaders/graph.js';
import { layersModelToNet } from './loaders/layers.js';
import { onnxFileToNet, type OnnxInputOptions, type OnnxLoaded } from './loaders/onnx.js';
import { tfliteToNet } from './loaders/tflite.js';
import { parseManifest, readWeights } from './loaders/weights.js';
import type { ModelFolder, ModelIO } from './model-io.js';
import { NetClassifier } from './net-classifier.js';
import { findZooEntry, guessLayout, labelLayout, zooNames, ZOO, type LabelLayout, type ZooEntry } from './zoo.js';

export type { ModelFolder, ModelIO } from './model-io.js';

/**
 * loadModel: a zoo name, a folder, a model.json, a .tflite or .onnx file or an http(s) URL → NetClassifier.
 * Browser-safe: file access goes through a ModelIO, by default fetchModelIO (zoo models from their
 * URLs, paths as URLs relative to the page). `uap/node` supplies the file-system one (src/node/model-files.ts,
 * offline first: models dir, then cache, then download) and a loadModel that uses it.
 */

export type { FetchLike };

/** Options of loadModel. */
export interface LoadOptions {
  /** fetch to use for downloads (default: globalThis.fetch). */
  fetch?: FetchLike;
  /** Largest file a download may be (default 256 MiB). */
  maxBytes?: number;
  /** Deadline of one file's download (default 10 min) and the longest wait for its next byte (default 30 s). */
  timeoutMs?: number;
  idleTimeoutMs?: number;
  /** Most bytes all weight shards of a model.json may hold together (default 1 GiB). */
  maxWeightBytes?: number;
  /** File access (default: fetchModelIO, i.e. downloads; uap/node's loadModel passes the file-system one). */
  io?: ModelIO;
  /** For models outside the zoo: pixels → model input (default identity; quantised TFLite: from the file). */
  preprocessing?: Preprocessing;
  /** For models outside the zoo: how outputs map to labels (default: guessed from their number). */
  labels?: LabelLayout;
  /** For ONNX models whose file does not say: input layout and size. */
  onnx?: OnnxInputOptions;
}

export const DEFAULT_MAX_BYTES = DEFAULT_DOWNLOAD_MAX_BYTES;

/** The download limits of LoadOptions. */
export type UrlFolderOptions = Pick<DownloadOptions, 'fetch' | 'maxBytes' | 'timeoutMs' | 'idleTimeoutMs'>;

/** Refuses a weight path that would leave the model's folder. Returns the path to read. */
export function checkWeightPath(rel: string, folder: ModelFolder): string {
  const where = `${folder.name}`;
  if (typeof rel !== 'string' || rel.trim() === '') throw new UapError('BAD_MODEL', 'empty weight path in the manifest', where);
  if (/^[a-z][a-z0-9+.-]*:/i.test(rel) || rel.startsWith('//')) {
    let url: URL | undefined;
    try {
      url = new URL(rel.startsWith('//') ? `https:${rel}` : rel);
    } catch {
      url = undefined;
    }
    if (url && folder.origin && (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === folder.origin) return url.href;
    throw new UapError('SECURITY', `weight path ${rel} points outside the model folder (another host or scheme)`, where);
  }
  if (rel.startsWith('/') || rel.startsWith('\\')) {
    throw new UapError('SECURITY', `weight path ${rel} is absolute: it must be relative to the model folder`, where);
  }
  let decoded = rel;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    throw new UapError('SECURITY', `weight path ${rel} is malformed`, where);
  }
  for (const p of [rel, decoded]) {
    if (p.split(/[\\/]/).some((s) => s === '..') || /^[a-z]:/i.test(p) || p.includes('\0')) {
      throw new UapError('SECURITY', `weight path ${rel} leaves the model folder`, where);
    }
  }
  return rel;
}

/**
 * A folder behind an http(s) URL (the main file's URL); shards are resolved beside it. The main file may be
 * redirected (zoo URLs on GitHub are); the origins it passed through join the folder's origin, and every hop
 * of every other file must stay on those origins (the same rule checkWeightPath applies to the paths).
 */
export function urlFolder(mainUrl: string, opts: UrlFolderOptions = {}): ModelFolder {
  const base = new URL(mainUrl);
  const mainFile = base.pathname.split('/').pop() ?? '';
  const trusted = new Set([base.origin]);
  return {
    name: mainUrl,
    origin: base.origin,
    async read(rel: string): Promise<Uint8Array> {
      const u = new URL(rel, base);
      // TF Hub serves files with ?tfjs-format=file: keep the main file's query for its shards
      if (!/[?]/.test(rel) && base.search) u.search = base.search;
      const isMain = u.origin === base.origin && u.pathname === base.pathname;
      const got = await download(u.href, { ...opts, allowOrigin: isMain || mainFile === '' ? undefined : (o) => trusted.has(o) });
      if (isMain) for (const h of got.hops) trusted.add(new URL(h).origin);
      return got.bytes;
    },
  };
}

/** The browser's ModelIO: zoo models from their canonical URL (the repo's own under ./models/), paths as URLs. */
export function fetchModelIO(opts: UrlFolderOptions & { baseUrl?: string } = {}): ModelIO {
  const base = opts.baseUrl ?? (typeof location !== 'undefined' ? location.href : 'http://localhost/');
  return {
    zoo(entry) {
      const url = entry.url ?? new URL(`models/${entry.dir}/${entry.file}`, base).href;
      return urlFolder(url, opts);
    },
    async open(loc) {
      const url = new URL(loc, base).href;
      return { folder: urlFolder(url, opts), file: url.split('?')[0]!.split('/').pop()! };
    },
  };
}

function looksLikeName(s: string): boolean {
  return !/[\\/]/.test(s) && !/\.(json|tflite|onnx)$/i.test(s) && !/^[a-z]+:/i.test(s);
}

function baseName(p: string): string {
  return p.split('?')[0]!.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? p;
}

/** The zoo entry a local copy corresponds to (same folder or file name), for its preprocessing and labels. */
function entryForPath(folderName: string, file: string): ZooEntry | undefined {
  if (/\.(tflite|onnx)$/.test(file)) return ZOO.find((e) => (e.format === 'tflite' || e.format === 'onnx') && e.file === file);
  const bare = folderName.split('?')[0]!;
  // A URL folder is named by its main file (…/mobilenet_v1_0.25_224/model.json): match the canonical URL, then the folder.
  const byUrl = ZOO.find((e) => e.url !== null && e.url.split('?')[0] === bare);
  if (byUrl) return byUrl;
  const dir = baseName(bare.endsWith(`/${file}`) ? bare.slice(0, -file.length - 1) : bare);
  return ZOO.find((e) => (e.format === 'layers' || e.format === 'graph') && e.dir === dir);
}

async function readJson(folder: ModelFolder, file: string): Promise<unknown> {
  const bytes = await folder.read(file);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new UapError('BAD_MODEL', `${file} is not valid JSON (${(e as Error).message})`, folder.name);
  }
}

/**
 * Runs a converter on untrusted input. The converters check what they rely on, but a topology can be broken
 * in more ways than they name; whatever slips through (a TypeError on a missing field) is still a bad model
 * file, reported as one BAD_MODEL line naming it rather than as a stack trace.
 */
function converting(source: string, convert: () => LoadedNet): LoadedNet {
  try {
    return convert();
  } catch (e) {
    if (e instanceof UapError) throw e;
    throw new UapError('BAD_MODEL', `malformed model (${(e as Error).message ?? String(e)})`, source);
  }
}

/**
 * Loads a classifier: a zoo name, a folder, a model.json (TF.js layers or graph), a .tflite file or a URL, through
 * `opts.io`. The result takes pixels (0..255) and returns logits in the standard label order.
 */
export async function loadModel(nameOrPath: string, opts: LoadOptions = {}): Promise<NetClassifier> {
  const io = opts.io ?? fetchModelIO(opts);
  let entry = findZooEntry(nameOrPath);
  let folder: ModelFolder;
  let file: string;
  if (entry) {
    folder = io.zoo(entry);
    file = entry.file;
  } else {
    try {
      ({ folder, file } = await io.open(nameOrPath));
    } catch (e) {
      if (e instanceof UapError && e.code === 'NOT_FOUND' && looksLikeName(nameOrPath)) {
        throw new UapError('NOT_FOUND', `no such model; known models: ${zooNames().join(', ')} (or give a folder, model.json, .tflite, .onnx or URL)`, nameOrPath);
      }
      throw e;
    }
    entry = entryForPath(folder.name, file);
  }
  const source = `${folder.name.replace(/[\\/]+$/, '')}/${file}`;
  const preprocessing = opts.preprocessing ?? (entry ? (entry.preprocessing === 'from-file' ? undefined : entry.preprocessing) : undefined);

  let loaded: LoadedNet;
  let fromFile: OnnxLoaded | undefined;
  if (file.toLowerCase().endsWith('.tflite')) {
    const bytes = await folder.read(file);
    loaded = converting(source, () => tfliteToNet(bytes, { source, preprocessing }));
  } else if (file.toLowerCase().endsWith('.onnx')) {
    loaded = fromFile = await onnxFileToNet(folder, file, { source, preprocessing, onnx: opts.onnx });
  } else {
    const json = (await readJson(folder, file)) as { modelTopology?: { node?: unknown }; format?: string; weightsManifest?: unknown };
    if (!json || typeof json !== 'object' || !json.modelTopology) throw new UapError('BAD_MODEL', 'not a TF.js model.json (no modelTopology)', source);
    const manifest = parseManifest(json.weightsManifest, source);
    const weights = await readWeights(manifest, (p) => folder.read(checkWeightPath(p, folder)), source, { maxTotalBytes: opts.maxWeightBytes });
    const isGraph = json.format === 'graph-model' || Array.isArray(json.modelTopology.node);
    loaded = converting(source, () =>
      isGraph ? graphModelToNet(json, weights, { source, preprocessing }) : layersModelToNet(json, weights, { source, preprocessing }),
    );
  }

  const layout = opts.labels ?? entry?.labels ?? fromFile?.labelLayout;
  let mapping: { labels: ReturnType<typeof guessLayout>['labels']; gather?: Int32Array };
  if (layout) {
    const l = labelLayout(layout);
    if (l.outputs !== loaded.outputs) {
      throw new UapError('BAD_MODEL', `model has ${loaded.outputs} outputs, label layout ${layout} needs ${l.outputs}`, source);
    }
    mapping = l;
  } else {
    mapping = fromFile?.labels ? { labels: fromFile.labels } : guessLayout(loaded.outputs);
  }
  const net = mapping.gather ? appendGather(loaded.net, mapping.gather) : loaded.net;
  await folder.loaded?.();
  const id = entry?.name ?? baseName(/\.(tflite|onnx)$/i.test(file) ? file.replace(/\.(tflite|onnx)$/i, '') : folder.name);
  return new NetClassifier(id, net, mapping.labels);
}
