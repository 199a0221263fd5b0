import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { UapError } from '../errors.js';
import { writeNpy, type NpyArray } from '../io/npy.js';
import { perturbationToImage } from '../io/perturbation-image.js';
import {
  formatShape,
  parsePerturbationJson,
  parsePerturbationRecord,
  validatePerturbation,
  type PerturbationRecord,
} from '../io/perturbation-record.js';
import { removeStaleTemporaries, writeTemp } from './atomic-files.js';
import { readFileBounded, readNpyFile } from './bounded-read.js';
import { faultPoint } from './faults.js';
import { describeErrno } from './out-dir.js';
import { encodePng } from './png.js';

/** Names of the files a perturbation folder holds. */
export const PERTURBATION_FILES = {
  npy: 'perturbation.npy',
  json: 'perturbation.json',
  png: 'perturbation.png',
} as const;

/**
 * Fault injection for tests: called at each step of savePerturbation; a test makes it hang (an in-process
 * "kill"), and a child process is SIGKILLed there or made to fail with UAP_TEST_KILL_AT / UAP_TEST_FAULT
 * (src/node/faults.ts; the points are the step names, and `write` for every temporary file written).
 */
export const saveHooks: { step?: (name: SaveStep) => Promise<void> | void } = {};
export type SaveStep = 'staged-npy' | 'temp-png' | 'temp-json' | 'committed' | 'placed-npy' | 'placed-png';
async function step(name: SaveStep): Promise<void> {
  faultPoint(name);
  await saveHooks.step?.(name);
}

/** sha256 of the float32 values (little-endian), whatever the .npy header: what perturbation.json commits to. */
export function valuesSha256(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return createHash('sha256').update(bytes).digest('hex');
}

/** The staged copy of a pass's perturbation.npy, named after its hash. */
function stagedName(sha: string): string {
  return `.perturbation.${sha.slice(0, 16)}.npy`;
}

const STAGED = /^\.perturbation\.[0-9a-f]{16}\.npy$/;
/**
 * Removes what interrupted saves left in `dir`: temporary files of processes that are gone
 * (removeStaleTemporaries), and staged .npy files other than `keep`. (Staged files are only removed by a
 * writer: by savePerturbation, or by loadPerturbation with `repair` once the one the record names is in place.)
 */
export async function cleanStaleTemporaries(dir: string, keep?: string): Promise<string[]> {
  const removed = await removeStaleTemporaries(dir);
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    if (STAGED.test(n) && n !== keep) await unlink(path.join(dir, n)).then(() => removed.push(n), () => undefined);
  }
  return removed;
}

/**
 * Writes perturbation.npy, perturbation.json and perturbation.png into `dir` (created if needed), as ONE commit.
 *
 * perturbation.json is the manifest: besides the record it names the sha256 of the values it belongs to. The
 * values are first written (and synced) to a staged file named after that hash, then perturbation.json is
 * renamed into place — the commit point — and only then is the staged file renamed to perturbation.npy.
 * A kill before the commit leaves the previous pass whole; a kill after it leaves a perturbation.json whose
 * values are in the staged file, which loadPerturbation finds by the hash (and `--resume` puts in place).
 * So a reader never pairs a record with the values of another pass. The PNG is a picture of v, replaced last.
 * Everything is validated and encoded first: a bad input leaves no output at all.
 * Returns the three paths.
 */
export async function savePerturbation(
  dir: string,
  v: Float32Array,
  shape: readonly [number, number, number],
  record: PerturbationRecord,
): Promise<{ npy: string; json: string; png: string }> {
  const name = path.join(dir, PERTURBATION_FILES.npy);
  const checked = parsePerturbationRecord(record, path.join(dir, PERTURBATION_FILES.json));
  if (shape.length !== 3) throw new UapError('BAD_INPUT', `shape [${shape.join(', ')}] is not H×W×C`, name);
  validatePerturbation(v, shape, undefined, name);
  if (checked.inputShape.some((d, i) => d !== shape[i])) {
    throw new UapError(
      'BAD_INPUT',
      `the perturbation is ${formatShape(shape)} but its record says inputShape ${formatShape(checked.inputShape)}`,
      name,
    );
  }
  const files = {
    npy: path.join(dir, PERTURBATION_FILES.npy),
    json: path.join(dir, PERTURBATION_FILES.json),
    png: path.join(dir, PERTURBATION_FILES.png),
  };
  const sha = valuesSha256(v);
  const staged = path.join(dir, stagedName(sha));
  const manifest = { ...checked, files: { [PERTURBATION_FILES.npy]: { sha256: sha, staged: stagedName(sha) } } };
  const npyBytes = writeNpy(v, shape);
  const pngBytes = await encodePng(perturbationToImage(v, shape, { channels: 3 }));
  await mkdir(dir, { recursive: true });
  await completeCommit(dir);
  await cleanStaleTemporaries(dir);
  const temps: string[] = [];
  let committed = false;
  try {
    const npyTmp = await writeTemp(staged, npyBytes);
    temps.push(npyTmp);
    await rename(npyTmp, staged);
    await step('staged-npy');
    const pngTmp = await writeTemp(files.png, pngBytes);
    temps.push(pngTmp);
    await step('temp-png');
    const jsonTmp = await writeTemp(files.json, JSON.stringify(manifest, null, 2) + '\n');
    temps.push(jsonTmp);
    await step('temp-json');
    await rename(jsonTmp, files.json); // the commit
    committed = true;
    await step('committed');
    await rename(staged, files.npy);
    await step('placed-npy');
    await rename(pngTmp, files.png);
    await step('placed-png');
  } catch (e) {
    await Promise.all(temps.map((t) => unlink(t).catch(() => {})));
    if (!committed) await unlink(staged).catch(() => {});
    if (e instanceof UapError || !(e as NodeJS.ErrnoException).code) throw e;
    // A full disk or a folder gone read-only mid-run: one line; the last committed save is still whole.
    throw new UapError('BAD_ARGUMENT', `cannot save into ${dir} (${describeErrno(e)}); what was saved before is intact`, undefined, { option: 'out' });
  }
  return files;
}

/**
 * Finishes a save that was killed after its commit: when perturbation.json names a staged .npy that is still
 * there, it is moved into place (before a new save cleans staged files up, and before a resume reads).
 */
async function completeCommit(dir: string): Promise<void> {
  const json = path.join(dir, PERTURBATION_FILES.json);
  if (!(await exists(json))) return;
  let text: string;
  try {
    text = new TextDecoder().decode(await readFileBounded(json, { maxBytes: MAX_RECORD_BYTES, what: 'perturbation record' }));
  } catch {
    return;
  }
  const c = committedValues(text, PERTURBATION_FILES.npy);
  if (!c?.staged || !STAGED.test(c.staged)) return;
  const staged = path.join(dir, c.staged);
  if (await exists(staged)) await rename(staged, path.join(dir, PERTURBATION_FILES.npy));
}

/** A perturbation read from disk: its values (HWC, pixels), shape, file and record. */
export interface LoadedPerturbation {
  data: Float32Array;
  shape: [number, number, number];
  /** perturbation.json beside the .npy, when there is one. */
  record?: PerturbationRecord;
  /** The .npy file read. */
  file: string;
  /** ‖v‖∞ and ‖v‖₂, in pixels. */
  norms: { inf: number; l2: number };
  /** What a reader should be told: a perturbation larger than its record's ξ. */
  warnings: string[];
}

/** ‖v‖ in the norms a record can name. */
function norm(v: Float32Array, p: PerturbationRecord['norm']): number {
  let acc = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (p === 'inf') acc = Math.max(acc, a);
    else acc += p === 2 ? a * a : a;
  }
  return p === 2 ? Math.sqrt(acc) : acc;
}

const NORM_SYMBOL = { inf: '∞', 2: '₂', 1: '₁' } as const;

/**
 * The warning for a perturbation whose norm exceeds its record's ξ (float32 rounding of a projected v is
 * allowed for): what is measured with it is then not what the record says was computed.
 */
function normWarnings(v: Float32Array, record: PerturbationRecord | undefined, file: string): string[] {
  if (!record) return [];
  const n = norm(v, record.norm);
  if (n <= record.xi * (1 + 1e-5) + 1e-4) return [];
  return [`${file}: ‖v‖${NORM_SYMBOL[record.norm]} = ${n.toFixed(2)} exceeds the ξ = ${record.xi} of its record: results measure a larger perturbation than the record says`];
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Largest perturbation.json read (a record with its history is a few kB). */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * Reads a perturbation: a .npy file, a folder holding perturbation.npy, or a perturbation.json (its .npy beside it).
 * The record is the .json of the same base name beside the .npy (x.npy → x.json), if present.
 * Validates: the file really is a .npy (else BAD_INPUT naming it), finite values, 3-D image shape, the record's
 * inputShape agrees with the array, and `expectShape` (the model's input) when given. Reads are bounded
 * (the .npy header as numpy, the data by the header's shape, the record's size).
 *
 * A record that names the hash of its values (savePerturbation) must match them: when perturbation.npy holds
 * other values and the staged copy the record names is there (a save interrupted after its commit), that copy
 * is read — and, with `repair`, moved into place; otherwise the pair is refused rather than mixed.
 */
export async function loadPerturbation(
  target: string,
  opts: { expectShape?: readonly [number, number, number]; repair?: boolean } = {},
): Promise<LoadedPerturbation> {
  let info;
  try {
    info = await stat(target);
  } catch {
    throw new UapError('NOT_FOUND', 'no such file or folder', target);
  }
  let file = target;
  if (info.isDirectory()) {
    file = path.join(target, PERTURBATION_FILES.npy);
    if (!(await exists(file)) && !(await exists(path.join(target, PERTURBATION_FILES.json)))) {
      throw new UapError('NOT_FOUND', `the folder holds no ${PERTURBATION_FILES.npy}`, target);
    }
  } else if (/\.json$/i.test(target)) {
    file = target.replace(/\.json$/i, '.npy');
    if (!(await exists(file)) && !(await exists(target))) throw new UapError('NOT_FOUND', `no ${path.basename(file)} beside it`, target);
  }
  const jsonFile = file.replace(/\.npy$/i, '') + '.json';
  let record: PerturbationRecord | undefined;
  let committed: { sha256: string; staged?: string } | undefined;
  if (jsonFile !== file && (await exists(jsonFile))) {
    const text = new TextDecoder().decode(await readFileBounded(jsonFile, { maxBytes: MAX_RECORD_BYTES, what: 'perturbation record' }));
    record = parsePerturbationJson(text, jsonFile);
    committed = committedValues(text, path.basename(file));
  }
  let { npy, read } = await readNpyOrStaged(file, committed);
  if (read !== file && opts.repair) {
    await rename(read, file);
    read = file;
  }
  if (committed && valuesSha256(npy.data) !== committed.sha256) {
    const staged = committed.staged && STAGED.test(committed.staged) ? path.join(path.dirname(file), committed.staged) : undefined;
    const copy = staged && (await exists(staged)) ? await readNpyFile(staged) : undefined;
    if (!copy || valuesSha256(copy.data) !== committed.sha256) {
      throw new UapError(
        'BAD_INPUT',
        `holds other values than its record ${path.basename(jsonFile)} was saved with (an interrupted save, or one of the two replaced); ` +
          `delete ${path.basename(jsonFile)} to use the .npy alone`,
        file,
      );
    }
    npy = copy;
    read = staged!;
    if (opts.repair) {
      await rename(staged!, file);
      read = file;
    }
  }
  const shape = validatePerturbation(npy.data, npy.shape, undefined, read);
  if (record && record.inputShape.some((d, i) => d !== shape[i])) {
    throw new UapError(
      'BAD_INPUT',
      `the array is ${formatShape(shape)} but its record ${path.basename(jsonFile)} says ${formatShape(record.inputShape)}`,
      read,
    );
  }
  if (opts.expectShape) validatePerturbation(npy.data, shape, opts.expectShape, read);
  if (opts.repair) await cleanStaleTemporaries(path.dirname(file), undefined);
  const norms = { inf: norm(npy.data, 'inf'), l2: norm(npy.data, 2) };
  return { data: npy.data, shape, ...(record ? { record } : {}), file, norms, warnings: normWarnings(npy.data, record, read) };
}

/** The values a perturbation.json commits to (savePerturbation's `files` entry), if it names them. */
function committedValues(text: string, npyName: string): { sha256: string; staged?: string } | undefined {
  try {
    const f = (JSON.parse(text) as { files?: Record<string, { sha256?: unknown; staged?: unknown }> }).files?.[npyName];
    if (f && typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256)) {
      return { sha256: f.sha256, ...(typeof f.staged === 'string' ? { staged: f.staged } : {}) };
    }
  } catch {
    // parsePerturbationJson has already said what is wrong with the text
  }
  return undefined;
}

/** The .npy file; when it is missing but the record's staged copy is there (killed after the commit), that copy. */
async function readNpyOrStaged(file: string, committed: { staged?: string } | undefined): Promise<{ npy: NpyArray; read: string }> {
  if (!(await exists(file)) && committed?.staged && STAGED.test(committed.staged)) {
    const staged = path.join(path.dirname(file), committed.staged);
    if (await exists(staged)) return { npy: await readNpyFile(staged), read: staged };
  }
  try {
    return { npy: await readNpyFile(file), read: file };
  } catch (e) {
    if (e instanceof UapError && /magic string/.test(e.message)) {
      throw new UapError(
        'BAD_INPUT',
        `not a .npy file (a perturbation is read from a NumPy .npy file or a folder holding ${PERTURBATION_FILES.npy})`,
        file,
      );
    }
    throw e;
  }
}
