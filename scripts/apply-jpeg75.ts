/**
 * Does a perturbation applied with `uap apply` survive photo sharing? For the first N full-size originals of
 * ../shared/imagenet-sample/originals: apply v (each --fit mode and bound), re-encode the copy as a quality-75 JPEG
 * (what a sharing site does), and report per setting the share of photos whose top-1 changed (original vs
 * re-encoded copy), PSNR and SSIM of the re-encoded copy against the original (median, worst), and the file size change.
 *
 *   node --import tsx scripts/apply-jpeg75.ts [N] [PERTURBATION] [MODEL,MODEL2…]   (defaults 20, lts4/vgg-16.npy, mobilenet_v1_0.25_224)
 *
 * The row `v = 0` is the baseline: the copy without v, so what changes there is the re-encoding's doing.
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { applyToFiles, checkApplied, initBackend, loadModel, loadPerturbation, planApply, type AppliedFile } from '../src/node/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.UAP_SHARED ?? path.resolve(root, '..', 'shared');
const n = Number(process.argv[2] ?? 20);
const vFile = process.argv[3] ?? path.join(shared, 'perturbations', 'lts4', 'vgg-16.npy');
const modelNames = (process.argv[4] ?? 'mobilenet_v1_0.25_224').split(',');

await initBackend();
const models = await Promise.all(modelNames.map((m) => loadModel(m, { modelsDir: process.env.UAP_MODELS_DIR ?? path.join(shared, 'models') })));
const p = await loadPerturbation(vFile);
let vMax = 0;
for (const a of p.data) vMax = Math.max(vMax, Math.abs(a));
const dir = path.join(shared, 'imagenet-sample', 'originals');
const photos = (await readdir(dir)).sort().slice(0, n).map((f) => path.join(dir, f));
const tmp = await mkdtemp(path.join(tmpdir(), 'uap-jpeg75-'));
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const rows: string[] = [];
try {
  for (const [fit, bound] of [['photo', 0], ['photo', 1], ['photo', 1.5], ['crop', 1]] as const) {
    const outDir = path.join(tmp, `${fit}-${bound}`);
    const v = bound === 0 ? new Float32Array(p.data.length) : p.data;
    const applied = await applyToFiles(await planApply(photos, outDir), { v, vShape: p.shape, outDir, fit, limit: Math.max(bound, 1) * vMax });
    // The "shared" copy: re-encoded at JPEG quality 75, under the same name in another folder.
    const q75Dir = path.join(tmp, `${fit}-${bound}-q75`);
    await mkdir(q75Dir, { recursive: true });
    const shared75: AppliedFile[] = [];
    for (const a of applied) {
      const out = path.join(q75Dir, path.basename(a.output));
      await sharp(await readFile(a.output)).jpeg({ quality: 75 }).toFile(out);
      shared75.push({ ...a, output: out });
    }
    for (const [what, set] of [['copy', applied], ['copy → JPEG q75', shared75]] as const) {
      const c = await checkApplied(set, models, { thumbHeight: 0 });
      const changedText = models
        .map((m, i) => {
          const k = c.filter((r) => r.checks![i]!.changed).length;
          return `${m.id}: ${k}/${c.length} (${((100 * k) / c.length).toFixed(0)}%)`;
        })
        .join('<br>');
      const ssim = c.map((r) => r.ssim!);
      const psnr = c.map((r) => r.psnr ?? Infinity);
      const size = c.map((r) => r.bytesOut! / r.bytesIn! - 1);
      rows.push(
        `| ${fit} | ${bound === 0 ? 'v = 0' : `${bound}ξ`} | ${what} | ${changedText} | ${med(psnr).toFixed(1)} / ${Math.min(...psnr).toFixed(1)} | ${med(ssim).toFixed(3)} / ${Math.min(...ssim).toFixed(3)} | ${(100 * med(size)).toFixed(0)}% / ${(100 * Math.max(...size)).toFixed(0)}% |`,
      );
      console.error(rows.at(-1));
    }
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
  for (const m of models) m.dispose();
}
console.log(`${path.basename(vFile)} on ${modelNames.join(', ')}, first ${n} originals (‖v‖∞ = ${vMax.toFixed(1)}):\n`);
console.log('| --fit | bound | file checked | top-1 changed | PSNR dB median / worst | SSIM median / worst | size change median / largest |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);

