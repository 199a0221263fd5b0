import { existsSync } from 'node:fs';
import { open as openFile, readdir, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UapError } from '../errors.js';
import { DEFAULT_MAX_BYTES, loadModel as loadModelWith, urlFolder, type FetchLike, type LoadOptions, type ModelFolder, type ModelIO, type UrlFolderOptions } from '../models/load.js';
import type { NetClassifier } from '../models/net-classifier.js';
import type { ZooEntry } from '../models/zoo.js';
import { writeFileAtomic } from './atomic-files.js';

/**
 * Node file access for loadModel, offline first: a zoo model's files are looked up in the models dir
 * (--models-dir / UAP_MODELS_DIR, laid out like ../shared/models), then in the cache (UAP_CACHE,
 * default ~/.cache/uap), and only then downloaded from the canonical URL — with a size limit, a deadline and
 * an idle timeout (src/io/download.ts). Downloads are kept in memory until loadModel has parsed the model
 * (ModelFolder.loaded), then written atomically (temp file + rename) into the cache: an HTML error page or a
 * truncated shard is never cached. Local reads resolve symlinks and refuse a file whose real path leaves the
 * model folder, and read at most `maxBytes` of a regular file.
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

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Reads one regular file of at most `maxBytes` (checked before reading: /dev/zero or a 3 GB file are refused). */
async function readLocal(file: string, where: string, maxBytes: number): Promise<Uint8Array> {
  let fh;
  try {
    fh = await openFile(file, 'r');
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UapError('NOT_FOUND', `missing model file ${path.basename(file)}`, file);
    if (code === 'EISDIR') throw new UapError('BAD_MODEL', 'is a directory, expected a file', file);
    throw new UapError('NOT_FOUND', `cannot read (${code ?? (e as Error).message})`, where);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new UapError('BAD_MODEL', 'is a directory, expected a file', file);
    if (!st.isFile()) throw new UapError('BAD_MODEL', 'not a regular file', file);
    if (st.size > maxBytes) throw new UapError('SECURITY', `file is ${st.size} bytes, over the ${maxBytes}-byte limit`, file);
    const out = new Uint8Array(st.size);
    let off = 0;
    while (off < out.length) {
      const { bytesRead } = await fh.read(out, off, out.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off === out.length ? out : out.subarray(0, off);
  } catch (e) {
    if (e instanceof UapError) throw e;
    throw new UapError('NOT_FOUND', `cannot read (${errno(e) ?? (e as Error).message})`, file);
  } finally {
    await fh.close();
  }
}

/** Resolves `rel` inside `dir`, refusing anything that escapes it lexically (second line of defence). */
function inside(dir: string, rel: string): string {
  const p = path.resolve(dir, rel);
  const root = path.resolve(dir);
  if (p !== root && !p.startsWith(root + path.sep)) throw new UapError('SECURITY', `path ${rel} leaves the model folder`, dir);
  return p;
}

/**
 * Resolves `rel` inside `dir` and follows symlinks: the real path must stay inside the folder's real path,
 * so a shard (or a subfolder) that is a symlink to elsewhere is refused, not read.
 */
async function realInside(dir: string, rel: string): Promise<string> {
  const p = inside(dir, rel);
  let real: string;
  let root: string;
  try {
    root = await realpath(dir);
    real = await realpath(p);
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UapError('NOT_FOUND', `missing model file ${rel}`, p);
    if (code === 'ELOOP') throw new UapError('SECURITY', `path ${rel} is a symlink loop`, dir);
    throw new UapError('NOT_FOUND', `cannot read (${code ?? (e as Error).message})`, p);
  }
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw new UapError('SECURITY', `path ${rel} is a symlink that leaves the model folder (to ${real})`, dir);
  }
  return real;
}

/** A local folder. */
export function localFolder(dir: string, maxBytes = DEFAULT_MAX_BYTES, name = dir): ModelFolder {
  return { name, read: async (rel) => readLocal(await realInside(dir, rel), name, maxBytes) };
}

/**
 * Checks that a model's main file is what its name says before it is used or cached: model.json parses as
 * JSON (and, when downloaded, has a modelTopology), a .tflite file has the TFL3 identifier. `file` (the cached
 * file or the URL) is named in the error, so a broken copy can be found and deleted.
 */
export function checkMainFile(rel: string, bytes: Uint8Array, file: string, downloaded: boolean): void {
  const hint = downloaded ? ' (not cached)' : ' (a broken copy? delete it and it is downloaded again)';
  if (/\.tflite$/i.test(rel)) {
    const id = String.fromCharCode(...bytes.subarray(4, 8));
    if (bytes.length < 8 || id !== 'TFL3') throw new UapError('BAD_MODEL', `not a TFLite file (no TFL3 identifier)${hint}`, file);
    return;
  }
  if (!/\.json$/i.test(rel)) return;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    const start = new TextDecoder().decode(bytes.subarray(0, 40)).replace(/\s+/g, ' ');
    throw new UapError('BAD_MODEL', `${rel} is not valid JSON (${(e as Error).message}; it starts ${JSON.stringify(start)})${hint}`, file);
  }
  if (downloaded && (typeof json !== 'object' || json === null || !('modelTopology' in json))) {
    throw new UapError('BAD_MODEL', `not a TF.js model.json (no modelTopology)${hint}`, file);
  }
}

/** A download limit from the environment, in seconds (for slow links, or tests): milliseconds, or undefined. */
function envSeconds(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const s = Number(v);
  if (!(s > 0) || !Number.isFinite(s)) throw new UapError('BAD_ARGUMENT', `must be a number of seconds > 0, got "${v}"`, name);
  return s * 1000;
}

/** Where nodeModelIO looks for model files and how it downloads them (download limits: also env UAP_DOWNLOAD_TIMEOUT, UAP_DOWNLOAD_IDLE_TIMEOUT, in seconds). */
export interface NodeModelIOOptions extends UrlFolderOptions {
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
  const net: UrlFolderOptions = {
    fetch: opts.fetch,
    maxBytes,
    timeoutMs: opts.timeoutMs ?? envSeconds('UAP_DOWNLOAD_TIMEOUT'),
    idleTimeoutMs: opts.idleTimeoutMs ?? envSeconds('UAP_DOWNLOAD_IDLE_TIMEOUT'),
  };
  return {
    zoo(entry: ZooEntry): ModelFolder {
      const dirs = zooLocations(entry, opts).map((l) => l.dir);
      const cache = dirs[dirs.length - 1]!;
      const name = entry.url ?? path.join(repoRoot, 'models', entry.dir);
      const remote = entry.url ? urlFolder(entry.url, net) : undefined;
      /** Downloads not yet cached: cache file → bytes. */
      const pending = new Map<string, Uint8Array>();
      return {
        name: entry.name,
        async read(rel: string): Promise<Uint8Array> {
          for (const d of dirs) {
            const f = inside(d, rel);
            if (existsSync(f)) {
              const bytes = await readLocal(await realInside(d, rel), entry.name, maxBytes);
              if (rel === entry.file) checkMainFile(rel, bytes, f, false);
              return bytes;
            }
          }
          if (!remote) {
            throw new UapError('NOT_FOUND', `missing ${rel} (looked in ${dirs.join(', ')})`, entry.name);
          }
          const dest = inside(cache, rel);
          const data = await remote.read(rel).catch((e: unknown) => {
            if (e instanceof UapError && e.code === 'NOT_FOUND') {
              const where = dirs.join(', ');
              throw new UapError('NOT_FOUND', `${rel} is not in ${where} and could not be downloaded from ${name}: ${e.message}`, entry.name);
            }
            throw e;
          });
          if (rel === entry.file) checkMainFile(rel, data, new URL(rel, name).href, true);
          pending.set(dest, data);
          return data;
        },
        async loaded(): Promise<void> {
          for (const [dest, data] of pending) {
            try {
              await writeFileAtomic(dest, data);
            } catch (e) {
              throw new UapError('NOT_FOUND', `cannot write the download cache (${errno(e) ?? (e as Error).message}); set UAP_CACHE to a writable folder`, dest);
            }
            pending.delete(dest);
          }
        },
      };
    },
    async open(location: string) {
      if (/^https?:\/\//i.test(location)) {
        const u = new URL(location);
        return { folder: urlFolder(location, net), file: u.pathname.split('/').pop() || 'model.json' };
      }
      const p = path.resolve(location);
      let st;
      let real: string;
      try {
        st = await stat(p);
        real = await realpath(p);
      } catch {
        throw new UapError('NOT_FOUND', 'no such model file or folder', location);
      }
      if (st.isDirectory()) {
        if (existsSync(path.join(p, 'model.json'))) return { folder: localFolder(p, maxBytes), file: 'model.json' };
        const tfl = (await readdir(p)).filter((f) => /\.(tflite|onnx)$/i.test(f));
        if (tfl.length === 1) return { folder: localFolder(p, maxBytes), file: tfl[0]! };
        throw new UapError('NOT_FOUND', tfl.length ? `folder holds ${tfl.length} .tflite/.onnx files: name one` : 'folder has no model.json, .tflite or .onnx file', location);
      }
      // A symlinked main file is read where it really is, and so are the shards beside it.
      return { folder: localFolder(path.dirname(real), maxBytes, path.dirname(p)), file: path.basename(real) };
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
