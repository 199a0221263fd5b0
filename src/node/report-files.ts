import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UapError } from '../errors.js';
import { ApplyResultSchema, type ApplyResultFile } from '../io/apply-result.js';
import { parseResult } from '../io/results.js';
import type { ContactThumbs } from '../report/contact-sheet.js';
import { maxAbs, perturbationToImage } from '../io/perturbation-image.js';
import type { Found, ReportData, ReportRun } from '../report/html.js';
import {
  readDominantLabels,
  readEval,
  readSamples,
  readSubspace,
  readSweep,
  readTransfer,
  type SampleSet,
} from '../report/schemas.js';
import { contactThumbs } from './apply-check.js';
import { loadPerturbation, PERTURBATION_FILES } from './perturbation-files.js';
import { encodePng } from './png.js';

/**
 * Finds what `uap report` shows under a folder: run folders (perturbation.npy + perturbation.json, with an
 * optional samples*.json and eval*.json beside them), other .npy perturbations (with x.json beside x.npy if any), sweep*.json, transfer*.json, subspace*.json,
 * dominant*.json, eval*.json, samples*.json and apply*.json (uap apply --check: a contact sheet) anywhere below. A file that cannot be read is listed as skipped
 * (with the reason) rather than failing the report.
 */

const MAX_JSON_BYTES = 64 * 1024 * 1024;
const SKIP_DIRS = new Set(['node_modules', '.git', '.cache']);

/** Options of collectReportData. */
export interface CollectOptions {
  /** How deep to walk below the root (default 8). */
  maxDepth?: number;
  title?: string;
  packageVersion?: string;
}

type Kind = 'sweep' | 'transfer' | 'subspace' | 'dominant' | 'samples' | 'eval' | 'apply';

/** What a JSON file holds, judged by its name. */
export function kindOfFile(name: string): Kind | undefined {
  const n = name.toLowerCase();
  if (!n.endsWith('.json') || n === PERTURBATION_FILES.json) return undefined;
  if (n.startsWith('sweep')) return 'sweep';
  if (n.startsWith('transfer')) return 'transfer';
  if (n.startsWith('subspace')) return 'subspace';
  if (n.startsWith('dominant') || n.startsWith('labels')) return 'dominant';
  if (n.startsWith('samples')) return 'samples';
  if (n.startsWith('eval')) return 'eval';
  if (n.startsWith('apply')) return 'apply';
  return undefined;
}

function reason(e: unknown, file: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  // UapError puts "input: " in front; the report names the file already.
  return msg.startsWith(file + ': ') ? msg.slice(file.length + 2) : msg;
}

async function dataUri(v: Float32Array, shape: [number, number, number]): Promise<string> {
  const png = await encodePng(perturbationToImage(v, shape, { channels: 3 }));
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

function l2(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** Walks `root` and reads everything a report shows. UapError NOT_FOUND when root is not a folder. */
export async function collectReportData(root: string, opts: CollectOptions = {}): Promise<ReportData> {
  let info;
  try {
    info = await stat(root);
  } catch {
    throw new UapError('NOT_FOUND', 'no such folder', root);
  }
  if (!info.isDirectory()) throw new UapError('BAD_ARGUMENT', 'is not a folder (give the folder that holds the runs)', root);
  const data: ReportData = {
    root,
    generatedAt: new Date().toISOString(),
    runs: [],
    sweeps: [],
    transfers: [],
    subspaces: [],
    dominantLabels: [],
    evals: [],
    samples: [],
    skipped: [],
  };
  if (opts.title !== undefined) data.title = opts.title;
  if (opts.packageVersion !== undefined) data.packageVersion = opts.packageVersion;
  const maxDepth = opts.maxDepth ?? 8;

  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      data.skipped.push({ file: rel(dir), reason: reason(e, dir) });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const names = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    let run: ReportRun | undefined;
    // perturbation.npy first (the folder's run), then any other .npy (an imported perturbation, e.g. the paper's).
    const npys = [...names].filter((n) => /\.npy$/i.test(n)).sort((a, b) => (a === PERTURBATION_FILES.npy ? -1 : b === PERTURBATION_FILES.npy ? 1 : a < b ? -1 : 1));
    for (const npy of npys) {
      const file = path.join(dir, npy);
      try {
        const p = await loadPerturbation(file);
        const r: ReportRun = {
          dir: npy === PERTURBATION_FILES.npy ? rel(dir) : rel(file),
          image: await dataUri(p.data, p.shape),
          shape: p.shape,
          normInf: maxAbs(p.data),
          norm2: l2(p.data),
        };
        if (p.record) r.record = p.record;
        data.runs.push(r);
        if (npy === PERTURBATION_FILES.npy) run = r;
      } catch (e) {
        data.skipped.push({ file: rel(file), reason: reason(e, file) });
      }
    }
    for (const e of entries) {
      if (!e.isFile()) continue;
      const kind = kindOfFile(e.name);
      if (!kind) continue;
      const file = path.join(dir, e.name);
      const name = rel(file);
      try {
        const st = await stat(file);
        if (st.size > MAX_JSON_BYTES) throw new UapError('BAD_INPUT', `too large (${st.size} bytes) for a report input`, file);
        let json: unknown;
        try {
          json = JSON.parse(await readFile(file, 'utf8'));
        } catch (err) {
          throw new UapError('BAD_INPUT', `not valid JSON (${(err as Error).message})`, file);
        }
        switch (kind) {
          case 'sweep':
            data.sweeps.push({ file: name, value: readSweep(json, file) });
            break;
          case 'transfer':
            data.transfers.push({ file: name, value: readTransfer(json, file) });
            break;
          case 'subspace':
            data.subspaces.push({ file: name, value: readSubspace(json, file) });
            break;
          case 'dominant':
            data.dominantLabels.push({ file: name, value: readDominantLabels(json, file) });
            break;
          case 'samples': {
            const set: SampleSet = readSamples(json, file);
            if (run && !run.samples) run.samples = set;
            else data.samples.push({ file: name, value: set });
            break;
          }
          case 'apply': {
            const result = parseResult(ApplyResultSchema, json, file, 'apply.json');
            data.applies = [...(data.applies ?? []), { file: name, value: { result, thumbs: await applyThumbs(result, dir) } }];
            break;
          }
          case 'eval': {
            const list = readEval(json, file);
            if (run) run.evals = [...(run.evals ?? []), ...list];
            else data.evals.push({ file: name, value: list } satisfies Found<typeof list>);
            break;
          }
        }
      } catch (err) {
        data.skipped.push({ file: name, reason: reason(err, file) });
      }
    }
    if (depth >= maxDepth) return;
    for (const e of entries) {
      if (e.isDirectory() && !e.name.startsWith('.') && !SKIP_DIRS.has(e.name)) await walk(path.join(dir, e.name), depth + 1);
    }
  };
  const rel = (p: string) => {
    const r = path.relative(root, p);
    return r === '' ? '.' : r.split(path.sep).join('/');
  };
  await walk(root, 0);
  return data;
}

/**
 * Contact-sheet thumbnails of an apply.json's photos, made again from the files: the copy is looked up beside the
 * apply.json (its folder may have moved), the original where apply.json says it was. A missing file: no thumbnails.
 */
async function applyThumbs(result: ApplyResultFile, dir: string): Promise<(ContactThumbs | undefined)[]> {
  return Promise.all(
    result.photos.map(async (p) => {
      if (p.status === 'failed') return undefined;
      try {
        const [a, b] = await Promise.all([readFile(p.input), readFile(path.join(dir, path.basename(p.output)))]);
        return await contactThumbs(a, b);
      } catch {
        return undefined;
      }
    }),
  );
}

/** True when the report would show something. */
export function hasContent(d: ReportData): boolean {
  return (
    d.runs.length + d.sweeps.length + d.transfers.length + d.subspaces.length + d.dominantLabels.length + d.evals.length + d.samples.length + (d.applies?.length ?? 0) > 0
  );
}
