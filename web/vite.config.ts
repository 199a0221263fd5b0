import { cpSync, createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/**
 * The page (web/) built with Vite. The repository's committed models (models/, e.g. models/mnist/model.json)
 * are served at /models/… in dev and preview, and copied into dist/models/ by a build, so the page's
 * loadModel('mnist') (fetch, relative to the page) finds them either way.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const models = path.resolve(here, '..', 'models');
// In dev and preview, a local model mirror (UAP_MODELS_DIR, laid out like ../shared/models) is served under
// /models/ too, after the repository's own: type models/<name>/model.json as the page's model URL.
const roots = [models, ...(process.env.UAP_MODELS_DIR ? [path.resolve(process.env.UAP_MODELS_DIR)] : [])];

function serveModels(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  let rel: string;
  try {
    rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
  } catch {
    return next();
  }
  for (const root of roots) {
    const file = path.resolve(root, '.' + path.posix.normalize('/' + rel));
    if (!file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile()) continue;
    res.setHeader('Content-Type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    createReadStream(file).pipe(res);
    return;
  }
  next();
}

function repoModels(): Plugin {
  let outDir = '';
  return {
    name: 'uap-repo-models',
    configResolved(c) {
      outDir = path.resolve(c.root, c.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use('/models', serveModels);
    },
    configurePreviewServer(server) {
      server.middlewares.use('/models', serveModels);
    },
    closeBundle() {
      const mnist = path.join(models, 'mnist');
      if (existsSync(mnist)) cpSync(mnist, path.join(outDir, 'models', 'mnist'), { recursive: true });
    },
  };
}

// Cross-origin isolation (as `uap serve` sends it): SharedArrayBuffer, so the threaded wasm backend can run.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  // No SPA fallback: a missing model.json is a 404, not index.html.
  appType: 'mpa',
  worker: { format: 'es' },
  server: { headers: isolation },
  preview: { headers: isolation },
  plugins: [repoModels()],
  // TensorFlow.js alone is about 1 MB minified.
  // Not minified: the threaded wasm backend's inlined worker breaks when identifiers are renamed (tfjs#4539).
  build: { outDir: path.join(here, 'dist'), emptyOutDir: true, target: 'es2022', minify: false, chunkSizeWarningLimit: 8192 },
});
