import { UapError, type Image8 } from '../src/index.js';

/** DOM helpers of the page: elements by id, text, the one error line, canvases. */

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** One readable line for any failure: HTTP statuses and network errors in words, the file or URL named. */
export function readable(e: unknown): string {
  let text = e instanceof Error ? e.message : String(e);
  text = text
    .replace(/download failed: HTTP 404\b.*$/, 'not found (404)')
    .replace(/download failed: HTTP (\d+)\b.*$/, 'the server answered HTTP $1')
    .replace(/download failed: (Failed to fetch|NetworkError.*|Load failed)$/i, 'could not be reached (offline, a wrong address, or the server does not allow this page to read it)');
  if (e instanceof UapError && e.hint?.option === 'resize') text += ' — load a perturbation computed for this model';
  return text;
}

export function showError(e: unknown): void {
  const box = $<HTMLParagraphElement>('error');
  box.textContent = readable(e);
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

export function clearError(): void {
  $<HTMLParagraphElement>('error').hidden = true;
}

export function setText(id: string, text: string): void {
  $(id).textContent = text;
}

export const pct = (r: number) => `${(100 * r).toFixed(1)}%`;
export const shapeText = (s: readonly number[]) => s.join('×');

export function draw(canvasId: string, image: Image8): void {
  const canvas = $<HTMLCanvasElement>(canvasId);
  canvas.width = image.width;
  canvas.height = image.height;
  const rgba = image.channels === 4 ? image.data : toRgba(image);
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), image.width, image.height), 0, 0);
}

export function toRgba(im: Image8): Uint8ClampedArray {
  const out = new Uint8ClampedArray(im.width * im.height * 4);
  for (let p = 0; p < im.width * im.height; p++) {
    for (let k = 0; k < 3; k++) out[p * 4 + k] = im.data[p * im.channels + (im.channels === 1 ? 0 : k)]!;
    out[p * 4 + 3] = 255;
  }
  return out;
}

export function blank(canvasId: string): void {
  const c = $<HTMLCanvasElement>(canvasId);
  c.getContext('2d')!.clearRect(0, 0, c.width, c.height);
}

export function maxAbsOf(v: Float32Array): number {
  let m = 0;
  for (const a of v) m = Math.max(m, Math.abs(a));
  return m;
}
