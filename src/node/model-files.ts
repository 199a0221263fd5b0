import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UapError } from '../errors.js';
import { DEFAULT_MAX_BYTES, loadModel as loadModelWith, urlFolder, type FetchLike, type LoadOptions, type ModelFolder, type ModelIO } from '../models/load.js';
import type { NetClassifier } from '../models/net-classifier.js';
import type { ZooEntry } from '../models/zoo.js';
import { writeFileAtomic } from './atomic-files.js';

/**
 * Node file access for loadModel, offline first: a zoo model's files are looked up in the models dir
 * (--models-dir / UAP_MODELS_DIR, laid out like ../shared/models), then in the cache (UAP_CACHE,
 * default ~/.cache/uap), and only then downloaded from the canonical URL — with a size limit,
 * written atomically (temp file + rename) into the cache.
 */

function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
}

export const repoRoot = findRepoRoot();

/** Where downloaded models are cached: env UAP_CACHE, else ~/.cache/uap. */
export function defaultCacheDir(): string {
  return process.env.UAP_CACHE ?? path.join(os.homedir(), '.cache', 'uap');
}

async function readLocal(file: string, where: string): Promise<Uint8Array> {
  try {
    const b = await readFile(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UapError('NOT_FOUND', `missing model file ${path.basename(file)}`, file);
    if (code === 'EISDIR') throw new UapError('BAD_MODEL', 'is a directory, expected a file', file);
    throw new UapError('NOT_FOUND', `cannot read (${code ?? (e as Error).message})`, where);
  }
}

/** Resolves `rel` inside `dir`, refusing anything that escapes it (second line of defence). */
function inside(dir: string, rel: string): string {
  const p = path.resolve(dir, rel);
  const root = path.resolve(dir);
  if (p !== root && !p.startsWith(root + path.sep)) throw new UapError('SECURITY', `path ${rel} leaves the model folder`, dir);
  return p;
}

/** A local folder. */
export function localFolder(dir: string): ModelFolder {
  return { name: dir, read: (rel) => readLocal(inside(dir, rel), dir) };
}

/** Where nodeModelIO looks for model files and how it downloads them. */
export interface NodeModelIOOptions {
  /** A local mirror laid out like ../shared/models (default: env UAP_MODELS_DIR, else $UAP_SHARED/models). */
  modelsDir?: string;
  /** Download cache (default: env UAP_CACHE, else ~/.cache/uap). */
  cacheDir?: string;
  fetch?: FetchLike;
  maxBytes?: number;
}

/** A place a zoo model's files are looked for: the local mirror, the copy bundled with uap, the download cache. */
export interface ZooLocation {
  place: 'mirror' | 'bundled' | 'cache';
  dir: string;
}

/** Where nodeModelIO looks for a zoo model's files, in order (offline first); downloads go to the last, the cache. */
export function zooLocations(entry: ZooEntry, opts: Pick<NodeModelIOOptions, 'modelsDir' | 'cacheDir'> = {}): ZooLocation[] {
  const shared = process.env.UAP_SHARED;
  const modelsDir = opts.modelsDir ?? process.env.UAP_MODELS_DIR ?? (shared ? path.join(shared, 'models') : undefined);
  return [
    ...(modelsDir ? [{ place: 'mirror' as const, dir: path.join(modelsDir, entry.dir) }] : []),
    ...(entry.bundled ? [{ place: 'bundled' as const, dir: path.join(repoRoot, 'models', entry.dir) }] : []),
    { place: 'cache', dir: path.join(opts.cacheDir ?? defaultCacheDir(), entry.dir) },
  ];
}

/**
 * The file-system and download ModelIO for loadModel: a zoo model from the models dir, the copy bundled with uap or
 * the cache, else downloaded (size-limited, written atomically into the cache); a path or an http(s) URL otherwise.
 */
export function nodeModelIO(opts: NodeModelIOOptions = {}): ModelIO {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  return {
    zoo(entry: ZooEntry): ModelFolder {
      const dirs = zooLocations(entry, opts).map((l) => l.dir);
      const cache = dirs[dirs.length - 1]!;
      const name = entry.url ?? path.join(repoRoot, 'models', entry.dir);
      return {
        name: entry.name,
        async read(rel: string): Promise<Uint8Array> {
          for (const d of dirs) {
            const f = inside(d, rel);
            if (existsSync(f)) return readLocal(f, entry.name);
          }
          if (!entry.url) {
            throw new UapError('NOT_FOUND', `missing ${rel} (looked in ${dirs.join(', ')})`, entry.name);
          }
          const dest = inside(cache, rel);
          const data = await urlFolder(entry.url, { fetch: opts.fetch, maxBytes }).read(rel).catch((e: unknown) => {
            if (e instanceof UapError && e.code === 'NOT_FOUND') {
              const where = dirs.join(', ');
              throw new UapError('NOT_FOUND', `${rel} is not in ${where} and could not be downloaded from ${name}: ${e.message}`, entry.name);
            }
            throw e;
          });
          await writeFileAtomic(dest, data);
          return data;
        },
      };
    },
    async open(location: string) {
      if (/^https?:\/\//i.test(location)) {
        const u = new URL(location);
        return { folder: urlFolder(location, { fetch: opts.fetch, maxBytes }), file: u.pathname.split('/').pop() || 'model.json' };
      }
      const p = path.resolve(location);
      let st;
      try {
        st = await stat(p);
      } catch {
        throw new UapError('NOT_FOUND', 'no such model file or folder', location);
      }
      if (st.isDirectory()) {
        if (existsSync(path.join(p, 'model.json'))) return { folder: localFolder(p), file: 'model.json' };
        const tfl = (await readdir(p)).filter((f) => /\.(tflite|onnx)$/i.test(f));
        if (tfl.length === 1) return { folder: localFolder(p), file: tfl[0]! };
        throw new UapError('NOT_FOUND', tfl.length ? `folder holds ${tfl.length} .tflite/.onnx files: name one` : 'folder has no model.json, .tflite or .onnx file', location);
      }
      return { folder: localFolder(path.dirname(p)), file: path.basename(p) };
    },
  };
}

/** Options of Node's loadModel: the core's, plus where model files are looked up. */
export interface NodeLoadOptions extends LoadOptions, NodeModelIOOptions {}

/**
 * loadModel with Node file access: a zoo name, a folder, a model.json, a .tflite file or an http(s) URL →
 * NetClassifier (the core's loadModel with `io` defaulting to nodeModelIO).
 */
export function loadModel(nameOrPath: string, opts: NodeLoadOptions = {}): Promise<NetClassifier> {
  return loadModelWith(nameOrPath, { ...opts, io: opts.io ?? nodeModelIO(opts) });
}
