import * as tf from '@tensorflow/tfjs';
import {
  addPerturbation,
  fetchModelIO,
  loadModel,
  parsePerturbationJson,
  perturbationToImage,
  pixelsToImage,
  randomPerturbation,
  readNpy,
  UapError,
  validatePerturbation,
  ZOO,
  type Classifier,
  type Image8,
  type LoadOptions,
  type PerturbationRecord,
  type ZooEntry,
} from '../src/index.js';

/**
 * The page: a model (the repo's MNIST CNN or a TF.js model by URL), an image (drawn or uploaded), a
 * perturbation (.npy from `uap compute`, or random ±ξ noise) → predictions on x and on clip(x + v).
 * The library from src/ runs unchanged; only the DOM lives here.
 */

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const state: {
  model?: Classifier;
  v?: Float32Array;
  vName?: string;
  record?: PerturbationRecord;
} = {};

function showError(e: unknown): void {
  const box = $<HTMLParagraphElement>('error');
  let text = e instanceof Error ? e.message : String(e);
  // The library's advice names an option of the CLI (resize); on the page the way out is another file.
  if (e instanceof UapError && e.hint?.option === 'resize') text += ' — load a perturbation computed for this model';
  box.textContent = text;
  box.scrollIntoView({ block: 'nearest' });
  box.hidden = false;
}

function clearError(): void {
  $<HTMLParagraphElement>('error').hidden = true;
}

function setStatus(id: string, text: string): void {
  $<HTMLParagraphElement>(id).textContent = text;
}

// ------------------------------------------------------------------ backend and model

/** webgl, falling back to cpu; `?backend=cpu` picks one. */
async function initBackend(): Promise<string> {
  const asked = new URLSearchParams(location.search).get('backend');
  for (const name of asked ? [asked] : ['webgl', 'cpu']) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
    } catch {
      // next
    }
  }
  throw new Error(`no TensorFlow.js backend could start${asked ? ` (asked for ${asked})` : ''}`);
}

async function loadSelectedModel(): Promise<void> {
  clearError();
  const kind = (document.querySelector('input[name="model-kind"]:checked') as HTMLInputElement).value;
  const url = $<HTMLInputElement>('model-url').value.trim();
  if (kind === 'url' && !url) throw new UapError('BAD_ARGUMENT', 'give the URL of a model.json', 'model URL');
  setStatus('model-status', 'Loading…');
  const backend = await initBackend();
  state.model?.dispose();
  state.model = undefined;
  const model = await loadModel(kind === 'mnist' ? 'mnist' : url, { io: fetchModelIO(), ...zooOptionsFor(url) });
  state.model = model;
  const [h, w, c] = model.inputShape;
  const name = kind === 'url' ? (zooEntryFor(url)?.name ?? url) : model.id;
  setStatus('model-status', `${name}: input ${h}×${w}×${c}, ${model.labels.ids.length} classes (backend ${backend}).`);
  if (state.v && state.v.length !== h * w * c) {
    state.v = undefined;
    state.record = undefined;
    setStatus('pert-status', 'The loaded perturbation does not fit this model; load another.');
  }
  await update();
}

/**
 * A URL that ends like a zoo model's files (…/mobilenet_v1_0.75_224/model.json, e.g. a local mirror served under
 * models/) gets that model's preprocessing and label order, which a bare URL would not.
 */
function zooEntryFor(url: string): ZooEntry | undefined {
  const p = url.split(/[?#]/)[0]!;
  return ZOO.find((z) => (z.format === 'tflite' ? p.endsWith(`/${z.file}`) || p === z.file : p.endsWith(`${z.dir}/${z.file}`)));
}

function zooOptionsFor(url: string): Pick<LoadOptions, 'preprocessing' | 'labels'> {
  const e = zooEntryFor(url);
  if (!e) return {};
  return { ...(e.preprocessing === 'from-file' ? {} : { preprocessing: e.preprocessing }), labels: e.labels };
}

// ------------------------------------------------------------------ drawing pad

const pad = $<HTMLCanvasElement>('pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true })!;

function clearPad(): void {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
}

function initPad(): void {
  clearPad();
  let drawing = false;
  let last: [number, number] | undefined;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    last = at(e);
    stroke(last, last);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = at(e);
    stroke(last ?? p, p);
    last = p;
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    last = undefined;
    void update().catch(showError);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
}

function stroke(a: [number, number], b: [number, number]): void {
  padCtx.strokeStyle = '#fff';
  padCtx.lineCap = 'round';
  padCtx.lineJoin = 'round';
  padCtx.lineWidth = Number($<HTMLInputElement>('brush').value);
  padCtx.beginPath();
  padCtx.moveTo(a[0], a[1]);
  padCtx.lineTo(b[0], b[1]);
  padCtx.stroke();
}

async function uploadImage(file: File): Promise<void> {
  const bitmap = await createImageBitmap(file).catch(() => {
    throw new UapError('BAD_INPUT', 'not an image this browser can decode', file.name);
  });
  // Cover the pad: scale the shorter side to fit, centre-crop the rest.
  const s = Math.max(pad.width / bitmap.width, pad.height / bitmap.height);
  const w = bitmap.width * s;
  const h = bitmap.height * s;
  clearPad();
  padCtx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  bitmap.close();
}

/** The pad as the model's input: pixels 0..255, HWC, at the model's size (grey = mean of R, G, B). */
function padPixels(shape: readonly [number, number, number]): Float32Array {
  const [h, w, c] = shape;
  const small = document.createElement('canvas');
  small.width = w;
  small.height = h;
  const ctx = small.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(pad, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const out = new Float32Array(h * w * c);
  for (let p = 0; p < h * w; p++) {
    if (c === 1) out[p] = (rgba[p * 4]! + rgba[p * 4 + 1]! + rgba[p * 4 + 2]!) / 3;
    else for (let k = 0; k < c; k++) out[p * c + k] = rgba[p * 4 + Math.min(k, 2)]!;
  }
  return out;
}

// ------------------------------------------------------------------ perturbation

async function loadPerturbationFiles(files: FileList): Promise<void> {
  clearError();
  const list = [...files];
  const npy = list.find((f) => /\.npy$/i.test(f.name));
  const json = list.find((f) => /\.json$/i.test(f.name));
  if (!npy) throw new UapError('BAD_INPUT', 'choose a .npy file (a perturbation from uap compute), optionally with its .json', 'perturbation');
  const arr = readNpy(new Uint8Array(await npy.arrayBuffer()), npy.name);
  const expect = state.model ? [...state.model.inputShape] : undefined;
  validatePerturbation(arr.data, arr.shape, expect, npy.name);
  state.v = arr.data;
  state.vName = npy.name;
  state.record = json ? parsePerturbationJson(await json.text(), json.name) : undefined;
  const r = state.record;
  setStatus(
    'pert-status',
    r
      ? `${npy.name}: computed on ${r.modelId}, ℓ${r.norm === 'inf' ? '∞' : r.norm} ξ = ${r.xi}, data ${r.data.spec} (${r.data.n}), fooling rate on X ${(r.foolingRateOnX * 100).toFixed(1)}%.`
      : `${npy.name}: ${arr.shape.join('×')}, ‖v‖∞ = ${maxAbsOf(arr.data).toFixed(1)}.`,
  );
  await update();
}

function maxAbsOf(v: Float32Array): number {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  return m;
}

async function randomNoise(): Promise<void> {
  clearError();
  if (!state.model) throw new UapError('BAD_ARGUMENT', 'load a model first', 'random noise');
  const xi = Number($<HTMLInputElement>('xi').value);
  if (!(xi > 0 && xi <= 255)) throw new UapError('BAD_ARGUMENT', 'ξ must be in (0, 255]', 'ξ');
  const [h, w, c] = state.model.inputShape;
  state.v = randomPerturbation('sign', h * w * c, 'inf', xi, Date.now() % 100000);
  state.vName = `random ±${xi}`;
  state.record = undefined;
  setStatus('pert-status', `Random ±${xi} noise (every pixel value moved by exactly ξ, random sign) — the paper's baseline.`);
  await update();
}

// ------------------------------------------------------------------ result

function draw(canvasId: string, image: Image8): void {
  const canvas = $<HTMLCanvasElement>(canvasId);
  canvas.width = image.width;
  canvas.height = image.height;
  const rgba = image.channels === 4 ? image.data : toRgba(image);
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), image.width, image.height), 0, 0);
}

function toRgba(im: Image8): Uint8ClampedArray {
  const out = new Uint8ClampedArray(im.width * im.height * 4);
  for (let p = 0; p < im.width * im.height; p++) {
    for (let k = 0; k < 3; k++) out[p * 4 + k] = im.data[p * im.channels + (im.channels === 1 ? 0 : k)]!;
    out[p * 4 + 3] = 255;
  }
  return out;
}

async function top5(model: Classifier, x: Float32Array): Promise<Array<{ index: number; p: number }>> {
  const [h, w, c] = model.inputShape;
  const input = tf.tensor4d(x, [1, h, w, c]);
  const logits = await model.logits(input);
  input.dispose();
  const probs = tf.softmax(logits);
  logits.dispose();
  const k = Math.min(5, probs.shape[1]!);
  const { values, indices } = tf.topk(probs, k);
  probs.dispose();
  const [p, i] = [await values.data(), await indices.data()];
  tf.dispose([values, indices]);
  return Array.from(i, (index, j) => ({ index, p: p[j]! }));
}

function showPredictions(listId: string, preds: Array<{ index: number; p: number }>, names: readonly string[]): void {
  const ol = $<HTMLOListElement>(listId);
  ol.replaceChildren(
    ...preds.map(({ index, p }) => {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = names[index] ?? String(index);
      name.title = name.textContent;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, p * 100)}%`;
      const pct = document.createElement('span');
      pct.className = 'p';
      pct.textContent = `${(p * 100).toFixed(1)}%`;
      li.append(name, bar, pct);
      return li;
    }),
  );
}

let updating: Promise<void> = Promise.resolve();

/** Recomputes everything shown (serialised, so fast strokes do not interleave). */
function update(): Promise<void> {
  updating = updating.then(render, render);
  return updating;
}

async function render(): Promise<void> {
  const model = state.model;
  if (!model) return;
  const shape = model.inputShape;
  const x = padPixels(shape);
  draw('view-x', pixelsToImage(x, shape));
  const clean = await top5(model, x);
  showPredictions('pred-clean', clean, model.labels.names);
  const verdict = $<HTMLParagraphElement>('verdict');
  const clip = $<HTMLInputElement>('clip').checked;
  $<HTMLElement>('pert-title').textContent = clip ? 'on clip(x + v)' : 'on x + v';
  $<HTMLElement>('xv-caption').textContent = clip ? 'clip(x + v)' : 'x + v (shown clipped)';
  if (!state.v) {
    $<HTMLOListElement>('pred-pert').replaceChildren();
    verdict.textContent = 'Load a perturbation to see what it does.';
    verdict.className = 'verdict';
    return;
  }
  const scale = Number($<HTMLInputElement>('scale').value);
  const v = state.v.map((a) => a * scale);
  draw('view-v', perturbationToImage(v, shape));
  draw('view-xv', pixelsToImage(addPerturbation(x, v, true), shape));
  const pert = await top5(model, addPerturbation(x, v, clip));
  showPredictions('pred-pert', pert, model.labels.names);
  const names = model.labels.names;
  const a = names[clean[0]!.index] ?? String(clean[0]!.index);
  const b = names[pert[0]!.index] ?? String(pert[0]!.index);
  verdict.textContent = a === b ? `Not fooled: still “${a}”.` : `Fooled: “${a}” became “${b}”.`;
  verdict.className = `verdict ${a === b ? 'same' : 'fooled'}`;
}

// ------------------------------------------------------------------ wiring

function on<K extends keyof HTMLElementEventMap>(id: string, event: K, f: (e: HTMLElementEventMap[K]) => unknown): void {
  $(id).addEventListener(event, (e) => {
    Promise.resolve()
      .then(() => f(e as HTMLElementEventMap[K]))
      .catch(showError);
  });
}

initPad();
for (const r of document.querySelectorAll<HTMLInputElement>('input[name="model-kind"]')) {
  r.addEventListener('change', () => {
    $<HTMLInputElement>('model-url').disabled = r.value !== 'url' || !r.checked;
  });
}
on('model-load', 'click', loadSelectedModel);
on('pad-clear', 'click', () => {
  clearPad();
  return update();
});
on('image-file', 'change', async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) {
    await uploadImage(f);
    await update();
  }
});
on('pert-file', 'change', async (e) => {
  const files = (e.target as HTMLInputElement).files;
  if (files?.length) await loadPerturbationFiles(files);
});
on('pert-random', 'click', randomNoise);
on('scale', 'input', () => {
  $<HTMLOutputElement>('scale-out').textContent = `${Number($<HTMLInputElement>('scale').value).toFixed(2)}×`;
  return update();
});
on('clip', 'change', update);

// Start with the repository's model when it is there.
loadSelectedModel().catch((e: unknown) => {
  setStatus('model-status', 'No model loaded.');
  showError(e);
});
