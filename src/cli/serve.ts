import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UapError, ZOO, type ZooEntry } from '../index.js';
import { zooLocations } from '../node/index.js';

/**
 * `uap serve`: the web page (web/dist, built by `npm run web:build`; built here when missing) with the local models
 * and perturbations, on 127.0.0.1 only. Every response is cross-origin isolated (COOP same-origin, COEP
 * require-corp), so the page may use SharedArrayBuffer and the threaded wasm backend.
 *
 *   /                       the page
 *   /api/index.json         the zoo models present locally, and the perturbations (.npy, with their .json)
 *   /models/<name>/<file>   a zoo model's files, from --models-dir / UAP_MODELS_DIR, the repository, the cache
 *   /perturbations/<rel>    files under --perturbations (default $UAP_SHARED/perturbations)
 *
 * Paths are decoded once, must stay inside their root after symlinks are resolved, and name plain files;
 * anything else is a 404 (a 400 for undecodable paths). Only GET and HEAD.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository (src/cli → ../..; dist/cli → ../..). */
const root = path.resolve(here, '..', '..');

export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
};

export interface ServeOptions {
  port?: number;
  modelsDir?: string;
  perturbationsDir?: string;
  /** The built page (default web/dist of the repository). */
  siteDir?: string;
}

export interface ModelIndexEntry {
  name: string;
  description: string;
  format: ZooEntry['format'];
  inputShape: readonly number[];
  preprocessing: ZooEntry['preprocessing'];
  labels: ZooEntry['labels'];
  reference?: { top1: number; top5: number };
  /** Relative to the page. */
  url: string;
}

export interface PerturbationIndexEntry {
  name: string;
  shape: number[];
  url: string;
  /** Its perturbation.json (or <name>.json), when there is one. */
  json?: string;
}

/** `file` inside `base` after resolving symlinks, or undefined (escapes, missing, not a file). */
export async function safeFile(base: string, rel: string): Promise<string | undefined> {
  if (rel.includes('\0')) return undefined;
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..' || p.includes('\\'))) return undefined;
  try {
    const realBase = await realpath(base);
    const real = await realpath(path.join(realBase, ...parts));
    if (real !== realBase && !real.startsWith(realBase + path.sep)) return undefined;
    return (await stat(real)).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

function modelDirs(entry: ZooEntry, modelsDir?: string): string[] {
  return zooLocations(entry, { modelsDir }).map((l) => l.dir);
}

async function modelFile(entry: ZooEntry, rel: string, modelsDir?: string): Promise<string | undefined> {
  for (const d of modelDirs(entry, modelsDir)) {
    const f = await safeFile(d, rel);
    if (f) return f;
  }
  return undefined;
}

async function modelIndex(modelsDir?: string): Promise<ModelIndexEntry[]> {
  const out: ModelIndexEntry[] = [];
  for (const e of ZOO) {
    if (!(await modelFile(e, e.file, modelsDir))) continue;
    out.push({
      name: e.name,
      description: e.description,
      format: e.format,
      inputShape: e.inputShape,
      preprocessing: e.preprocessing,
      labels: e.labels,
      ...(e.reference ? { reference: e.reference } : {}),
      url: `models/${encodeURIComponent(e.name)}/${e.file}`,
    });
  }
  return out;
}

/** The shape of a float32 .npy file from its header (the first bytes), checked against the file's size; else undefined. */
async function npyShape(file: string): Promise<number[] | undefined> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const head = new Uint8Array(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const { size } = await fh.stat();
    const bytes = head.subarray(0, bytesRead);
    if (bytesRead < 12 || String.fromCharCode(...bytes.subarray(0, 6)) !== '\x93NUMPY') return undefined;
    const v1 = bytes[6] === 1;
    const len = v1 ? bytes[8]! | (bytes[9]! << 8) : bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16);
    const start = v1 ? 10 : 12;
    const header = new TextDecoder().decode(bytes.subarray(start, start + len));
    const shape = /'shape':\s*\(([\d,\s]*)\)/.exec(header)?.[1]?.split(',').map((d) => d.trim()).filter(Boolean).map(Number);
    if (!shape || !/'descr':\s*'<f4'/.test(header) || start + len + 4 * shape.reduce((a, b) => a * b, 1) !== size) return undefined;
    return shape;
  } finally {
    await fh.close();
  }
}

async function perturbationIndex(dir: string | undefined): Promise<PerturbationIndexEntry[]> {
  if (!dir || !existsSync(dir)) return [];
  const out: PerturbationIndexEntry[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 3 || out.length >= 200) return;
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const d of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await walk(r, depth + 1);
      else if (d.name.endsWith('.npy')) {
        const file = await safeFile(dir, r);
        const shape = file && (await npyShape(file));
        if (!shape) continue;
        const base = r.slice(0, -4);
        const jsonRel = [`${base}.json`, rel ? `${rel}/perturbation.json` : 'perturbation.json'].find((j) => existsSync(path.join(dir, j)));
        out.push({
          name: d.name === 'perturbation.npy' && rel ? rel : base,
          shape,
          url: `perturbations/${r.split('/').map(encodeURIComponent).join('/')}`,
          ...(jsonRel ? { json: `perturbations/${jsonRel.split('/').map(encodeURIComponent).join('/')}` } : {}),
        });
      }
    }
  };
  await walk('', 0);
  return out;
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': size });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const s = fh.createReadStream({ autoClose: false });
      s.on('error', reject);
      res.on('close', resolve);
      s.pipe(res);
    });
  } finally {
    await fh.close();
  }
}

/** Builds web/dist with Vite (a dev dependency of the repository). */
async function buildSite(siteDir: string): Promise<void> {
  const config = path.join(root, 'web', 'vite.config.ts');
  if (!existsSync(config)) throw new UapError('NOT_FOUND', 'the web page is not built and its sources (web/) are not here', siteDir);
  console.error('building the page (npm run web:build) …');
  const { build } = await import('vite');
  await build({ configFile: config, logLevel: 'warn', build: { outDir: siteDir, emptyOutDir: true } });
}

export async function startServer(opts: ServeOptions = {}): Promise<{ server: Server; url: string }> {
  const siteDir = path.resolve(opts.siteDir ?? path.join(root, 'web', 'dist'));
  if (!existsSync(path.join(siteDir, 'index.html'))) await buildSite(siteDir);
  const modelsDir = opts.modelsDir ?? process.env.UAP_MODELS_DIR;
  const shared = process.env.UAP_SHARED;
  const perturbationsDir = opts.perturbationsDir ?? (shared ? path.join(shared, 'perturbations') : undefined);
  const byName = new Map(ZOO.map((e) => [e.name, e]));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-cache');
    const fail = (status: number, text: string) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'only GET and HEAD');
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      return fail(400, 'bad path');
    }
    if (rel === '/api/index.json') {
      const body = JSON.stringify({ models: await modelIndex(modelsDir), perturbations: await perturbationIndex(perturbationsDir) });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      return;
    }
    let file: string | undefined;
    const m = /^\/models\/([^/]+)\/(.+)$/.exec(rel);
    if (m) {
      const entry = byName.get(m[1]!);
      file = entry && (await modelFile(entry, m[2]!, modelsDir));
    } else if (rel.startsWith('/perturbations/')) {
      file = perturbationsDir ? await safeFile(perturbationsDir, rel.slice('/perturbations/'.length)) : undefined;
    } else {
      file = await safeFile(siteDir, rel.endsWith('/') ? `${rel}index.html` : rel);
    }
    if (!file) return fail(404, 'not found');
    await sendFile(req, res, file);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error).message}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new UapError('BAD_ARGUMENT', `port ${opts.port} is in use`, '--port') : e),
    );
    server.listen(opts.port ?? 8080, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/` };
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the web page with the local models and perturbations on 127.0.0.1 (cross-origin isolated)')
    .option('--port <n>', 'port (0: any free one)', '8080')
    .option('--models-dir <dir>', 'local model mirror, laid out like ../shared/models (default: env UAP_MODELS_DIR)')
    .option('--perturbations <dir>', 'perturbations to offer (.npy, with .json; default: $UAP_SHARED/perturbations)')
    .action(async (o: { port: string; modelsDir?: string; perturbations?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UapError('BAD_ARGUMENT', `not a port: ${o.port}`, '--port');
      const { url } = await startServer({ port, modelsDir: o.modelsDir, perturbationsDir: o.perturbations });
      console.log(`serving ${url}`);
      const index = (await (await fetch(`${url}api/index.json`)).json()) as { models: unknown[]; perturbations: unknown[] };
      const hint = o.modelsDir ?? process.env.UAP_MODELS_DIR ? '' : ' (--models-dir or UAP_MODELS_DIR adds a local model mirror)';
      const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
      console.error(`${n(index.models.length, 'model')}${hint}, ${n(index.perturbations.length, 'perturbation')}; Ctrl-C stops it.`);
    });
}
