import { mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { UapError } from '../errors.js';
import { isNpy, readNpy, writeNpy } from '../io/npy.js';
import { perturbationToImage } from '../io/perturbation-image.js';
import {
  formatShape,
  parsePerturbationJson,
  parsePerturbationRecord,
  validatePerturbation,
  type PerturbationRecord,
} from '../io/perturbation-record.js';
import { writeTemp } from './atomic-files.js';
import { encodePng } from './png.js';

/** Names of the files a perturbation folder holds. */
export const PERTURBATION_FILES = {
  npy: 'perturbation.npy',
  json: 'perturbation.json',
  png: 'perturbation.png',
} as const;

/**
 * Writes perturbation.npy, perturbation.json and perturbation.png into `dir` (created if needed).
 * Everything is validated and encoded first, written to temporary files, then renamed into place:
 * a bad input leaves no output at all, and an interrupted save leaves no partial file.
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
  const contents: Array<[string, Uint8Array | string]> = [
    [files.npy, writeNpy(v, shape)],
    [files.json, JSON.stringify(checked, null, 2) + '\n'],
    [files.png, await encodePng(perturbationToImage(v, shape, { channels: 3 }))],
  ];
  await mkdir(dir, { recursive: true });
  const temps: string[] = [];
  try {
    for (const [file, bytes] of contents) temps.push(await writeTemp(file, bytes));
    for (let i = 0; i < contents.length; i++) await rename(temps[i]!, contents[i]![0]);
  } catch (e) {
    await Promise.all(temps.map((t) => unlink(t).catch(() => {})));
    throw e;
  }
  return files;
}

/** A perturbation read from disk: its values (HWC, pixels), shape, file and record. */
export interface LoadedPerturbation {
  data: Float32Array;
  shape: [number, number, number];
  /** perturbation.json beside the .npy, when there is one. */
  record?: PerturbationRecord;
  /** The .npy file read. */
  file: string;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a perturbation: a .npy file, a folder holding perturbation.npy, or a perturbation.json (its .npy beside it).
 * The record is the .json of the same base name beside the .npy (x.npy → x.json), if present.
 * Validates: the file really is a .npy (else BAD_INPUT naming it), finite values, 3-D image shape, the record's
 * inputShape agrees with the array, and `expectShape` (the model's input) when given.
 */
export async function loadPerturbation(
  target: string,
  opts: { expectShape?: readonly [number, number, number] } = {},
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
    if (!(await exists(file))) throw new UapError('NOT_FOUND', `the folder holds no ${PERTURBATION_FILES.npy}`, target);
  } else if (/\.json$/i.test(target)) {
    file = target.replace(/\.json$/i, '.npy');
    if (!(await exists(file))) throw new UapError('NOT_FOUND', `no ${path.basename(file)} beside it`, target);
  }
  const bytes = new Uint8Array(await readFile(file));
  if (!isNpy(bytes)) {
    throw new UapError(
      'BAD_INPUT',
      `not a .npy file (a perturbation is read from a NumPy .npy file or a folder holding ${PERTURBATION_FILES.npy})`,
      file,
    );
  }
  const npy = readNpy(bytes, file);
  const jsonFile = file.replace(/\.npy$/i, '') + '.json';
  let record: PerturbationRecord | undefined;
  if (jsonFile !== file && (await exists(jsonFile))) {
    record = parsePerturbationJson(await readFile(jsonFile, 'utf8'), jsonFile);
  }
  const shape = validatePerturbation(npy.data, npy.shape, undefined, file);
  if (record && record.inputShape.some((d, i) => d !== shape[i])) {
    throw new UapError(
      'BAD_INPUT',
      `the array is ${formatShape(shape)} but its record ${path.basename(jsonFile)} says ${formatShape(record.inputShape)}`,
      file,
    );
  }
  if (opts.expectShape) validatePerturbation(npy.data, shape, opts.expectShape, file);
  return { data: npy.data, shape, ...(record ? { record } : {}), file };
}
