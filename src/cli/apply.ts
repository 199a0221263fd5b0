import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { APPLY_DEFAULTS, applyPerturbationToPhoto, UapError } from '../index.js';
import { loadPerturbation, writeFileAtomic } from '../node/index.js';

/**
 * `uap apply --perturbation P --out DIR PHOTOS…`: each photo with v added at the photo's own resolution, by the
 * library's applyPerturbationToPhoto — the code the web page's download runs. The geometry comes from v's shape
 * (the model's input) and the crop fraction: no model is needed.
 */
export function registerApply(program: Command): void {
  program
    .command('apply')
    .description("add a perturbation to photos at their full resolution (as the web page's download does)")
    .requiredOption('--perturbation <path>', 'perturbation.npy, its .json, or a folder holding them')
    .requiredOption('--out <dir>', 'folder for the perturbed photos (<name>-uap.png / .jpg)')
    .argument('<photos...>', 'image files (JPEG, PNG, WebP)')
    .option('--format <f>', 'png or jpeg', 'png')
    .option('--bound <k>', 'change a pixel by at most k·‖v‖∞ (1 keeps the bound of v; 1.5 lets the model see v more exactly)', '1')
    .option('--refine <n>', 'back-projection steps that make the model’s view match v (0: plain bilinear rescale)', String(APPLY_DEFAULTS.refine))
    .option('--crop-fraction <f>', 'the crop fraction the model input is made with', '0.875')
    .option('--json', 'print JSON on stdout')
    .action(async (photos: string[], o: { perturbation: string; out: string; format: string; bound: string; refine: string; cropFraction: string; json?: boolean }) => {
      if (o.format !== 'png' && o.format !== 'jpeg') throw new UapError('BAD_ARGUMENT', `format must be png or jpeg, got ${o.format}`, '--format');
      const bound = Number(o.bound);
      if (!(bound > 0)) throw new UapError('BAD_ARGUMENT', `must be a positive number, got ${o.bound}`, '--bound');
      const refine = Number(o.refine);
      if (!(Number.isInteger(refine) && refine >= 0)) throw new UapError('BAD_ARGUMENT', `must be a whole number ≥ 0, got ${o.refine}`, '--refine');
      const cropFraction = Number(o.cropFraction);
      if (!(cropFraction > 0 && cropFraction <= 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1], got ${o.cropFraction}`, '--crop-fraction');
      const p = await loadPerturbation(o.perturbation);
      let max = 0;
      for (const a of p.data) max = Math.max(max, Math.abs(a));
      await mkdir(o.out, { recursive: true });
      const written: Array<{ photo: string; file: string; width: number; height: number }> = [];
      for (const photo of photos) {
        let raw: { data: Buffer; info: OutputInfo };
        try {
          raw = await sharp(photo, { failOn: 'warning' }).autoOrient().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
        } catch (e) {
          throw new UapError('BAD_INPUT', `not a readable image: ${(e as Error).message.split('\n')[0]}`, photo);
        }
        const { width, height, channels } = raw.info;
        const out = applyPerturbationToPhoto({ data: raw.data, width, height, channels }, p.data, p.shape, { refine, limit: bound * max, cropFraction });
        const img = sharp(Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength), { raw: { width, height, channels: 4 } }).removeAlpha();
        const bytes = await (o.format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toBuffer();
        const file = path.join(o.out, `${path.basename(photo).replace(/\.[^.]+$/, '')}-uap.${o.format === 'png' ? 'png' : 'jpg'}`);
        await writeFileAtomic(file, bytes);
        written.push({ photo, file, width, height });
        if (!o.json) console.error(`${photo} → ${file} (${width}×${height})`);
      }
      if (o.json) console.log(JSON.stringify({ perturbation: p.file, bound: bound * max, refine, files: written }));
    });
}
