import type { ApplyResultFile } from '../io/apply-result.js';
import { esc, fmtNum, fmtPct, safeImageSrc } from './escape.js';
import { REPORT_CSS } from './style.js';

/**
 * The contact sheet of `uap apply --check`: one row per photo — original | perturbed copy | their difference,
 * amplified around grey — with each model's top-1 before and after, PSNR, SSIM and file sizes. One self-contained
 * page (thumbnails as data: URIs), offline. Browser-safe.
 */

/** The three thumbnails of a contact-sheet row, as JPEG data: URIs. */
export interface ContactThumbs {
  original: string;
  perturbed: string;
  difference: string;
}

const kb = (n: number | undefined) => (n === undefined ? '—' : `${(n / 1024).toFixed(1)} KB`);

/** The sheet's summary and table (no page around it): also a section of `uap report`. */
export function contactSheetBody(result: ApplyResultFile, thumbs: readonly (ContactThumbs | undefined)[], amplify = 10): string {
  const rates = Object.entries(result.changedRate ?? {})
    .map(([m, r]) => `<li>${esc(m)}: top-1 changed on ${fmtPct(r)} of the photos</li>`)
    .join('');
  const rows = result.photos
    .map((p, i) => {
      const t = thumbs[i];
      const img = (src: string | undefined, alt: string) => (src ? `<img src="${safeImageSrc(src)}" alt="${esc(alt)}">` : '');
      const labels = (p.checks ?? [])
        .map((c) => `<div class="${c.changed ? 'changed' : 'same'}">${esc(c.model)}: ${esc(c.before.name)} → ${esc(c.after.name)}${c.changed ? ' (changed)' : ''}</div>`)
        .join('');
      const stats =
        p.status === 'failed'
          ? `<div class="error">${esc(p.error)}</div>`
          : `<div>${esc(p.format ?? '')} ${p.width ?? ''}×${p.height ?? ''}${p.quality === undefined ? '' : `, quality ${p.quality}`}</div>` +
            `<div>PSNR ${p.psnr === null ? '∞' : fmtNum(p.psnr, 1)} dB, SSIM ${fmtNum(p.ssim, 4)}</div><div>${kb(p.bytesIn)} → ${kb(p.bytesOut)}</div>`;
      return `<tr><td>${img(t?.original, 'original')}</td><td>${img(t?.perturbed, 'perturbed')}</td><td>${img(t?.difference, 'difference')}</td><td><div><b>${esc(p.input)}</b></div>${stats}${labels}</td></tr>`;
    })
    .join('\n');
  return `<p>${esc(result.perturbation)} (${result.vShape.join('×')}), fit ${esc(result.fit)}; ${result.written} written, ${result.skipped} already done, ${result.failed} failed. Difference: ${amplify}× (copy − original) around grey.</p>
<ul>${rates}</ul>
<table class="sheet"><thead><tr><th>original</th><th>perturbed</th><th>difference ×${amplify}</th><th>photo</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

/** CSS of the sheet, beside the report's own. */
export const CONTACT_SHEET_CSS = `table.sheet td{vertical-align:top;padding:4px} table.sheet img{max-height:160px;display:block}
.changed{color:#b00020} .same{color:#555} .error{color:#b00020}`;

/** The standalone page `uap apply --check` writes (contact-sheet.html). */
export function renderContactSheet(result: ApplyResultFile, thumbs: readonly (ContactThumbs | undefined)[], amplify = 10): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>uap apply: contact sheet</title>
<style>${REPORT_CSS}
${CONTACT_SHEET_CSS}</style></head><body><main>
<h1>uap apply: contact sheet</h1>
${contactSheetBody(result, thumbs, amplify)}
</main></body></html>
`;
}
