import {
  addPerturbation,
  applyPerturbationToPhoto,
  batchSource,
  fetchModelIO,
  findZooEntry,
  loadModel,
  parsePerturbationJson,
  perturbationToImage,
  pixelsToImage,
  randomPerturbation,
  readNpy,
  sgdPerturbation,
  UapError,
  urlFolder,
  validatePerturbation,
  writeNpy,
  ZOO,
  type Classifier,
  type FetchLike,
  type ModelIO,
  type PerturbationRecord,
  type Preprocessing,
  type ZooEntry,
} from '../src/index.js';
import { describeBackend, initBackend } from './backend.js';
import { computeInWorker, frameGapMonitor } from './compute-client.js';
import { decodePhoto, modelInput, wnidOf } from './photos.js';
import { className, effectiveV, isDigits, offer, requireModel, state, topK, type ModelChoice, type Photo, type ServedPerturbation, type Top } from './state.js';
import { $, blank, clearError, draw, maxAbsOf, pct, readable, setText, shapeText, showError } from './ui.js';
import { startWebcam, stopWebcam } from './webcam.js';

/**
 * The page: a model from the zoo (served by `uap serve`, or by URL), photos (a gallery by drop or picker, the MNIST
 * drawing pad, the webcam), a perturbation (.npy + .json from `uap compute`, a served one such as the paper authors',
 * random ±ξ noise, or computed here by SGD on the gallery) → predictions on x and on clip(x + v), the running fooling
 * rate, and the perturbed photo at its full size to download. The library from src/ runs unchanged; the DOM is here.
 */

// ------------------------------------------------------------------ messages

/** fetch for the library: a web page where a model file was expected is named as such (dev servers answer 200 + HTML). */
const pageFetch: FetchLike = async (url, init) => {
  const res = await fetch(url, init);
  const type = res.headers.get('content-type') ?? '';
  // The library fetches only model and perturbation files: a web page here is a wrong URL (or a dev server's fallback).
  if (res.ok && /text\/html/.test(type)) {
    throw new Error('a web page came back, not a model file (wrong URL?)');
  }
  return res;
};

async function fetchFile(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await pageFetch(url);
  } catch (e) {
    throw new UapError('NOT_FOUND', `download failed: ${(e as Error).message}`, url);
  }
  if (!res.ok) throw new UapError('NOT_FOUND', `download failed: HTTP ${res.status}`, url);
  return new Uint8Array(await res.arrayBuffer());
}

// ------------------------------------------------------------------ model list and loading

function preprocessingText(p: Preprocessing | 'from-file'): string {
  if (p === 'from-file') return 'from the file (uint8 quantisation)';
  const one = (scale: number, shift: number) => {
    const sc = scale === 1 ? 'p' : `p/${+(1 / scale).toFixed(3)}`;
    return shift === 0 ? sc : `${sc} ${shift < 0 ? '−' : '+'} ${+Math.abs(shift).toFixed(3)}`;
  };
  if (p.scale === 1 && p.shift === 0) return 'none (pixels 0..255; the model rescales them itself)';
  if (typeof p.scale === 'number' && typeof p.shift === 'number') return one(p.scale, p.shift);
  return 'per channel: ' + [0, 1, 2].map((k) => one(typeof p.scale === 'number' ? p.scale : p.scale[k]!, typeof p.shift === 'number' ? p.shift : p.shift[k]!)).join(', ');
}

function fromZoo(e: ZooEntry): ModelChoice {
  return {
    name: e.name,
    description: e.description,
    format: e.format,
    inputShape: e.inputShape,
    preprocessing: e.preprocessing,
    labels: e.labels,
    ...(e.reference ? { reference: e.reference } : {}),
    ...(e.url === null ? { url: `models/${e.dir}/${e.file}` } : {}),
  };
}

/** Without `uap serve`'s index: a zoo model read from models/<dir>/ beside the page when it is there (Vite dev with UAP_MODELS_DIR), else from its public URL. */
async function localCopy(e: ZooEntry): Promise<ModelChoice> {
  const choice = fromZoo(e);
  if (choice.url) return choice;
  const local = `models/${e.dir}/${e.file}`;
  try {
    const res = await fetch(local, { method: 'HEAD' });
    if (res.ok && !/text\/html/.test(res.headers.get('content-type') ?? '')) return { ...choice, url: local };
  } catch {
    // not here
  }
  return choice;
}

/** The models: those `uap serve` has locally, else the zoo (the repository's MNIST, the rest by public URL). */
async function listModels(): Promise<void> {
  let index: { models?: ModelChoice[]; perturbations?: ServedPerturbation[] } | undefined;
  try {
    const res = await fetch('api/index.json');
    if (res.ok && /json/.test(res.headers.get('content-type') ?? '')) index = (await res.json()) as typeof index;
  } catch {
    index = undefined;
  }
  offer.models = index?.models?.length ? index.models : await Promise.all(ZOO.map(localCopy));
  offer.served = index?.perturbations ?? [];
  const select = $<HTMLSelectElement>('model-select');
  const groups = new Map<string, HTMLOptGroupElement>();
  const formatName: Record<string, string> = { layers: 'TF.js layers', graph: 'TF.js graph', tflite: 'TFLite', onnx: 'ONNX' };
  for (const m of offer.models) {
    const label = formatName[m.format] ?? m.format;
    let g = groups.get(label);
    if (!g) {
      g = document.createElement('optgroup');
      g.label = label;
      groups.set(label, g);
    }
    const top1 = m.reference ? `, top-1 ${m.reference.top1}%` : '';
    g.append(new Option(`${m.name} (${shapeText(m.inputShape)}${top1})${m.url ? '' : ' — download'}`, m.name));
  }
  select.replaceChildren(...groups.values(), new Option('a model by URL…', 'url'));
  select.value = offer.models.some((m) => m.name === 'mnist') ? 'mnist' : (offer.models[0]?.name ?? 'url');
  showUrlBox();
}

function showUrlBox(): void {
  const byUrl = $<HTMLSelectElement>('model-select').value === 'url';
  $('model-url').hidden = !byUrl;
  $('model-url-label').hidden = !byUrl;
}

/** A ModelIO that reads a listed model from where the server has it, anything else by URL. */
function pageIO(choice?: ModelChoice): ModelIO {
  const byUrl = fetchModelIO({ fetch: pageFetch });
  if (!choice?.url) return byUrl;
  const url = new URL(choice.url, location.href).href;
  return { zoo: () => urlFolder(url, { fetch: pageFetch }), open: (loc) => byUrl.open(loc) };
}

async function loadChosenModel(): Promise<void> {
  clearError();
  const seq = ++state.modelSeq;
  const value = $<HTMLSelectElement>('model-select').value;
  const url = $<HTMLInputElement>('model-url').value.trim();
  resetForModel(undefined, undefined);
  if (value === 'url' && !url) throw new UapError('BAD_ARGUMENT', 'type the URL of a model.json, .tflite or .onnx file', 'model URL');
  setText('model-status', 'Loading…');
  try {
    const backend = await initBackend();
    setText('backend-status', `Backend: ${describeBackend(backend)}.`);
    const listed = value === 'url' ? undefined : offer.models.find((m) => m.name === value);
    const model = await loadModel(listed ? listed.name : url, { io: pageIO(listed) });
    if (seq !== state.modelSeq) {
      model.dispose();
      return;
    }
    const zoo = findZooEntry(model.id);
    const choice = listed ?? (zoo ? fromZoo(zoo) : undefined);
    resetForModel(model, choice);
    const [h, w, c] = model.inputShape;
    const parts = [
      `${listed ? model.id : url}: input ${h}×${w}×${c}, ${model.labels.ids.length} classes`,
      choice ? `${choice.description}; preprocessing ${preprocessingText(choice.preprocessing)}` : 'not a zoo model (preprocessing from the file, labels by output count)',
      choice?.reference ? `measured top-1 ${choice.reference.top1}%, top-5 ${choice.reference.top5}% on 200 ImageNet photos` : '',
    ];
    setText('model-status', parts.filter(Boolean).join(' · ') + '.');
  } catch (e) {
    if (seq === state.modelSeq) {
      resetForModel(undefined, undefined);
      setText('model-status', 'No model loaded.');
    }
    throw e;
  }
  await refresh();
}

/** Everything that depends on the model starts again: predictions, inputs, v, ξ, hints, the served list, the pad. */
function resetForModel(model: Classifier | undefined, choice: ModelChoice | undefined): void {
  state.computing?.abort();
  if (state.model && state.model !== model) state.model.dispose();
  state.model = model;
  state.choice = choice;
  state.v = undefined;
  state.vName = undefined;
  state.record = undefined;
  state.vVersion++;
  for (const p of state.photos) {
    p.x = undefined;
    p.clean = undefined;
    p.pert = undefined;
    p.label = model ? labelOf(p.name, model) : -1;
  }
  state.padX = undefined;
  const digits = isDigits(model);
  state.selected = digits || !state.photos.length ? -1 : Math.max(0, Math.min(state.selected, state.photos.length - 1));
  $('pad-box').hidden = !digits;
  const xi = $<HTMLInputElement>('xi');
  xi.value = String(digits ? 77 : 10);
  setText('xi-out', xi.value);
  setText(
    'image-hint',
    !model
      ? 'Load a model first.'
      : digits
        ? 'Draw a digit on the pad: white on black digits, like MNIST (28×28). Photos work too, as grey 28×28 images.'
        : `Add photos: they are resized and centre-cropped to ${model.inputShape[0]}×${model.inputShape[1]} as uap classify does. ` +
          'Name files after their ImageNet class (n01440764_tench.jpg) to get accuracy beside the fooling rate.',
  );
  setText(
    'xi-hint',
    digits
      ? 'ξ = 77 (0.3 of the pixel range) is the MNIST setting of the README; digits are white on black.'
      : 'ξ = 10 is the paper’s ℓ∞ setting for ImageNet models (barely visible); try 2–30.',
  );
  setText('pert-status', 'No perturbation loaded.');
  setText('compute-status', '');
  $<HTMLProgressElement>('compute-progress').value = 0;
  fillServedList();
  clearResult();
}

function labelOf(name: string, model: Classifier): number {
  const w = wnidOf(name);
  return w === undefined ? -1 : model.labels.ids.indexOf(w);
}

function fillServedList(): void {
  const select = $<HTMLSelectElement>('pert-list');
  const shape = state.model ? shapeText(state.model.inputShape) : '';
  const options = offer.served.map((p) => {
    const fits = shapeText(p.shape) === shape;
    const o = new Option(`${p.name} (${shapeText(p.shape)})${fits ? '' : ' — another size'}`, p.url);
    o.disabled = !fits;
    return o;
  });
  select.replaceChildren(new Option(offer.served.length ? '—' : '— none served —', ''), ...options);
}

// ------------------------------------------------------------------ drawing pad

const pad = $<HTMLCanvasElement>('pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true })!;

function clearPad(): void {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  state.padX = undefined;
}

function initPad(): void {
  clearPad();
  let drawing = false;
  let last: [number, number] | undefined;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  };
  const stroke = (a: [number, number], b: [number, number]) => {
    padCtx.strokeStyle = '#fff';
    padCtx.lineCap = 'round';
    padCtx.lineJoin = 'round';
    padCtx.lineWidth = Number($<HTMLInputElement>('brush').value);
    padCtx.beginPath();
    padCtx.moveTo(a[0], a[1]);
    padCtx.lineTo(b[0], b[1]);
    padCtx.stroke();
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
    state.padX = undefined;
    state.selected = -1;
    void refresh().catch(showError);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
}

// ------------------------------------------------------------------ gallery

async function addPhotos(files: readonly File[]): Promise<void> {
  clearError();
  const bad: string[] = [];
  let added = 0;
  for (const f of files) {
    try {
      const full = await decodePhoto(f, f.name);
      const li = document.createElement('li');
      const photo: Photo = { name: f.name, full, label: state.model ? labelOf(f.name, state.model) : -1, li };
      state.photos.push(photo);
      added++;
    } catch (e) {
      bad.push(readable(e));
    }
  }
  if (added && state.selected < 0 && !isDigits(state.model)) state.selected = state.photos.length - added;
  if (isDigits(state.model) && added) state.selected = state.photos.length - 1;
  renderGallery();
  await refresh();
  if (bad.length) {
    const more = bad.length > 1 ? ` (and ${bad.length - 1} more not added)` : '';
    throw new UapError('BAD_INPUT', `${bad[0]}${more}${added ? `; ${added} photo${added === 1 ? '' : 's'} added` : ''}`);
  }
}

function renderGallery(): void {
  const ul = $<HTMLUListElement>('gallery');
  ul.replaceChildren(
    ...state.photos.map((p, i) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'thumb';
      button.setAttribute('aria-pressed', String(i === state.selected));
      const canvas = document.createElement('canvas');
      const s = Math.min(1, 96 / Math.max(p.full.width, p.full.height));
      canvas.width = Math.max(1, Math.round(p.full.width * s));
      canvas.height = Math.max(1, Math.round(p.full.height * s));
      const ctx = canvas.getContext('2d')!;
      void createImageBitmap(p.full).then((b) => {
        ctx.drawImage(b, 0, 0, canvas.width, canvas.height);
        b.close();
      });
      const caption = document.createElement('span');
      caption.className = 'thumb-text';
      caption.textContent = thumbText(p);
      button.append(canvas, caption);
      button.title = p.name;
      button.setAttribute('aria-label', `${p.name}: ${thumbText(p)}`);
      button.addEventListener('click', () => {
        state.selected = i;
        renderGallery();
        void renderResult().catch(showError);
      });
      p.li.replaceChildren(button);
      p.li.dataset.clean = p.clean ? String(p.clean[0]!.index) : '';
      p.li.dataset.pert = p.pert ? String(p.pert[0]!.index) : '';
      p.li.className = p.pert && p.clean ? (p.pert[0]!.index !== p.clean[0]!.index ? 'fooled' : 'same') : '';
      return p.li;
    }),
  );
  renderStats();
}

function thumbText(p: Photo): string {
  if (!p.clean) return p.name;
  const a = className(p.clean[0]!.index);
  if (!p.pert) return a;
  const b = className(p.pert[0]!.index);
  return a === b ? `${a} (not fooled)` : `${a} → ${b}`;
}

/** The running numbers of the gallery: the fooling rate (no labels needed) and, for labelled photos, accuracy. */
function galleryStats(photos: readonly Photo[]): { n: number; fooled: number; labelled: number; clean: number; pert: number; withV: number } {
  let fooled = 0;
  let labelled = 0;
  let clean = 0;
  let pert = 0;
  let withV = 0;
  for (const p of photos) {
    if (!p.clean) continue;
    if (p.pert) {
      withV++;
      if (p.pert[0]!.index !== p.clean[0]!.index) fooled++;
    }
    if (p.label >= 0) {
      labelled++;
      if (p.clean[0]!.index === p.label) clean++;
      if (p.pert?.[0]!.index === p.label) pert++;
    }
  }
  return { n: photos.length, fooled, labelled, clean, pert, withV };
}

function renderStats(): void {
  const s = galleryStats(state.photos);
  if (!s.n) {
    setText('gallery-stats', 'No photos yet.');
    return;
  }
  const parts = [`${s.n} photo${s.n === 1 ? '' : 's'}`];
  if (s.withV) parts.push(`fooling rate ${pct(s.fooled / s.withV)} (${s.fooled} of ${s.withV})`);
  if (s.labelled) {
    parts.push(`accuracy on the ${s.labelled} labelled: ${pct(s.clean / s.labelled)} clean${s.withV ? `, ${pct(s.pert / s.labelled)} perturbed` : ''}`);
  } else if (state.model) parts.push('no labels in the file names (fooling rate only)');
  setText('gallery-stats', parts.join(' · '));
}

// ------------------------------------------------------------------ predictions

let running: Promise<void> | undefined;
let again = false;

/** Brings every prediction up to date (coalesced: calls while one runs make one more run). */
function refresh(): Promise<void> {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    try {
      do {
        again = false;
        await refreshOnce();
      } while (again);
    } finally {
      running = undefined;
    }
  })();
  return running;
}

async function refreshOnce(): Promise<void> {
  const model = state.model;
  if (!model) return;
  const shape = model.inputShape;
  const todo = state.photos.filter((p) => !p.clean);
  for (const p of todo) p.x ??= modelInput(p.full, shape);
  if (todo.length) {
    const tops = await topK(model, todo.map((p) => p.x!));
    if (model !== state.model) return;
    todo.forEach((p, i) => (p.clean = tops[i]));
  }
  const v = effectiveV();
  const version = state.vVersion;
  const clip = $<HTMLInputElement>('clip').checked;
  if (v) {
    const stale = state.photos.filter((p) => p.pertFor !== version || !p.pert);
    if (stale.length) {
      const tops = await topK(model, stale.map((p) => addPerturbation(p.x!, v, clip)));
      if (model !== state.model || version !== state.vVersion) return;
      stale.forEach((p, i) => {
        p.pert = tops[i];
        p.pertFor = version;
      });
    }
  } else for (const p of state.photos) p.pert = undefined;
  renderGallery();
  await renderResult();
}

// ------------------------------------------------------------------ result

function clearResult(): void {
  for (const id of ['view-x', 'view-v', 'view-xv']) blank(id);
  $('pred-clean').replaceChildren();
  $('pred-pert').replaceChildren();
  setText('verdict', '');
  setText('result-name', '');
  setText('download-status', '');
  $<HTMLButtonElement>('download-png').disabled = true;
  $<HTMLButtonElement>('download-jpeg').disabled = true;
  renderGallery();
}

function showPredictions(listId: string, preds: readonly Top[]): void {
  $(listId).replaceChildren(
    ...preds.map(({ index, p }) => {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = className(index);
      name.title = name.textContent;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, p * 100)}%`;
      const pp = document.createElement('span');
      pp.className = 'p';
      pp.textContent = pct(p);
      li.append(name, bar, pp);
      return li;
    }),
  );
}

/** The selected image (a gallery photo or the pad) in the result card. */
async function renderResult(): Promise<void> {
  const model = state.model;
  if (!model) return;
  const shape = model.inputShape;
  let x: Float32Array | undefined;
  let clean: Top[] | undefined;
  let pert: Top[] | undefined;
  const v = effectiveV();
  const clip = $<HTMLInputElement>('clip').checked;
  const photo = state.selected >= 0 ? state.photos[state.selected] : undefined;
  if (photo) {
    x = photo.x;
    clean = photo.clean;
    pert = v ? photo.pert : undefined;
    setText('result-name', `— ${photo.name}${photo.label >= 0 ? ` (labelled ${className(photo.label)})` : ''}`);
  } else if (isDigits(model)) {
    state.padX ??= modelInput(padCtx.getImageData(0, 0, pad.width, pad.height), shape, 1);
    x = state.padX;
    [clean] = await topK(model, [x]);
    if (v) [pert] = await topK(model, [addPerturbation(x, v, clip)]);
    setText('result-name', '— the drawing pad');
  }
  if (!x || !clean || model !== state.model) {
    if (!state.photos.length) clearResult();
    return;
  }
  draw('view-x', pixelsToImage(x, shape));
  showPredictions('pred-clean', clean);
  $<HTMLElement>('pert-title').textContent = clip ? 'on clip(x + v)' : 'on x + v';
  $<HTMLElement>('xv-caption').textContent = clip ? 'clip(x + v)' : 'x + v (shown clipped)';
  const verdict = $<HTMLParagraphElement>('verdict');
  const canDownload = !!(photo && v);
  $<HTMLButtonElement>('download-png').disabled = !canDownload;
  $<HTMLButtonElement>('download-jpeg').disabled = !canDownload;
  if (!v || !pert) {
    blank('view-v');
    blank('view-xv');
    $('pred-pert').replaceChildren();
    verdict.textContent = 'Load or compute a perturbation to see what it does.';
    verdict.className = 'verdict';
    return;
  }
  draw('view-v', perturbationToImage(v, shape));
  draw('view-xv', pixelsToImage(addPerturbation(x, v, true), shape));
  showPredictions('pred-pert', pert);
  const a = className(clean[0]!.index);
  const b = className(pert[0]!.index);
  verdict.textContent = a === b ? `Not fooled: still “${a}”.` : `Fooled: “${a}” became “${b}”.`;
  verdict.className = `verdict ${a === b ? 'same' : 'fooled'}`;
}

// ------------------------------------------------------------------ perturbations

function setV(v: Float32Array, name: string, record: PerturbationRecord | undefined, status: string): void {
  state.v = v;
  state.vName = name;
  state.record = record;
  state.vVersion++;
  let m = 0;
  for (const a of v) m = Math.max(m, Math.abs(a));
  const xi = $<HTMLInputElement>('xi');
  xi.value = String(Math.max(1, Math.min(Number(xi.max), Math.round(m))));
  setText('xi-out', xi.value);
  setText('pert-status', status);
}

function clearV(): void {
  state.v = undefined;
  state.record = undefined;
  state.vVersion++;
  for (const p of state.photos) p.pert = undefined;
  setText('pert-status', 'No perturbation loaded.');
  clearResult();
}

function describeRecord(name: string, r: PerturbationRecord | undefined, v: Float32Array, shape: readonly number[]): string {
  let m = 0;
  for (const a of v) m = Math.max(m, Math.abs(a));
  return r
    ? `${name}: computed on ${r.modelId}, ℓ${r.norm === 'inf' ? '∞' : r.norm} ξ = ${r.xi}, data ${r.data.spec} (${r.data.n}), fooling rate on X ${pct(r.foolingRateOnX)}.`
    : `${name}: ${shapeText(shape)}, ‖v‖∞ = ${m.toFixed(1)}.`;
}

async function usePerturbation(bytes: Uint8Array, name: string, jsonText: string | undefined, jsonName: string | undefined): Promise<void> {
  const model = requireModel(name);
  try {
    const arr = readNpy(bytes, name);
    validatePerturbation(arr.data, arr.shape, [...model.inputShape], name);
    const record = jsonText !== undefined ? parsePerturbationJson(jsonText, jsonName ?? 'perturbation.json') : undefined;
    setV(arr.data, name, record, describeRecord(name, record, arr.data, model.inputShape));
  } catch (e) {
    clearV();
    throw e;
  }
  await refresh();
}

async function loadPerturbationFiles(files: readonly File[]): Promise<void> {
  clearError();
  const npy = files.find((f) => /\.npy$/i.test(f.name));
  const json = files.find((f) => /\.json$/i.test(f.name));
  if (!npy) {
    clearV();
    throw new UapError('BAD_INPUT', 'choose a .npy file (a perturbation from uap compute), optionally with its .json', files[0]?.name ?? 'perturbation');
  }
  await usePerturbation(new Uint8Array(await npy.arrayBuffer()), npy.name, json ? await json.text() : undefined, json?.name);
}

async function loadServedPerturbation(url: string): Promise<void> {
  clearError();
  if (!url) return;
  const p = offer.served.find((s) => s.url === url);
  setText('pert-status', 'Loading…');
  try {
    const bytes = await fetchFile(url);
    const json = p?.json ? new TextDecoder().decode(await fetchFile(p.json)) : undefined;
    await usePerturbation(bytes, p?.name ?? url, json, p?.json);
  } catch (e) {
    clearV();
    throw e;
  }
  if (p && !p.json && /lts4|vgg|googlenet|caffenet|resnet|inception/i.test(p.name)) {
    setText('pert-status', `${p.name}: the paper authors’ own perturbation (LTS4, 2017), ${shapeText(p.shape)}, ‖v‖∞ = 10.`);
  }
}

async function randomNoise(): Promise<void> {
  clearError();
  const model = requireModel('random noise');
  const xi = Number($<HTMLInputElement>('xi').value);
  const [h, w, c] = model.inputShape;
  const v = randomPerturbation('sign', h * w * c, 'inf', xi, Date.now() % 100000);
  setV(v, `random ±${xi}`, undefined, `Random ±${xi} noise (every pixel value moved by exactly ξ, random sign): the paper’s baseline.`);
  await refresh();
}

// ------------------------------------------------------------------ computing v in the page

/** What the worker needs to load the same model: its name and the URL of its main file. */
function modelSpec(): { spec: string; mainUrl?: string } {
  const c = state.choice;
  const listed = c && $<HTMLSelectElement>('model-select').value !== 'url';
  if (listed) return { spec: c.name, ...(c.url ? { mainUrl: new URL(c.url, location.href).href } : {}) };
  return { spec: new URL($<HTMLInputElement>('model-url').value.trim(), location.href).href };
}

async function computeInPage(): Promise<void> {
  clearError();
  const model = requireModel('compute');
  const photos = state.photos.filter((p) => p.x);
  if (photos.length < 2) throw new UapError('BAD_ARGUMENT', 'add at least 2 photos to the gallery first (8 or more work better)', 'compute');
  const epochs = Number($<HTMLInputElement>('epochs').value);
  if (!(Number.isInteger(epochs) && epochs >= 1 && epochs <= 50)) throw new UapError('BAD_ARGUMENT', 'epochs must be a whole number from 1 to 50', 'epochs');
  const xi = Number($<HTMLInputElement>('xi').value);
  const clip = $<HTMLInputElement>('clip').checked;
  const shape = [...model.inputShape] as [number, number, number];
  const size = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(photos.length * size);
  photos.forEach((p, i) => images.set(p.x!, i * size));
  const labels = Int32Array.from(photos, (p) => p.label);
  const controller = new AbortController();
  state.computing = controller;
  const bar = $<HTMLProgressElement>('compute-progress');
  const [startBtn, stopBtn] = [$<HTMLButtonElement>('compute'), $<HTMLButtonElement>('compute-stop')];
  startBtn.disabled = true;
  stopBtn.disabled = false;
  bar.value = 0;
  const where = new URLSearchParams(location.search).get('compute') === 'main' ? 'main' : 'worker';
  setText('compute-status', `Computing on ${photos.length} photos (${where === 'worker' ? 'in a Web Worker' : 'on the main thread, in slices'})…`);
  const monitor = frameGapMonitor();
  const t0 = performance.now();
  let gap = 0;
  try {
    const options = { xi, epochs, batchSize: Math.min(4, photos.length), seed: 1, clip };
    const onProgress = (e: { pass: number; done: number; total: number; loss: number }) => {
      bar.value = Math.min(1, (e.pass - 1 + e.done / e.total) / epochs);
      setText('compute-status', `Epoch ${e.pass} of ${epochs}: ${e.done} of ${e.total} photos, loss ${e.loss.toFixed(3)}…`);
    };
    const result =
      where === 'worker'
        ? await computeInWorker(model, { type: 'start', ...modelSpec(), images, labels, shape, options }, onProgress, controller.signal)
        : await sgdPerturbation(model, batchSource({ images, labels, n: photos.length, shape, names: photos.map((p) => p.name) }), {
            norm: 'inf',
            ...options,
            signal: controller.signal,
            onProgress: (e) => (e.phase === 'epoch' ? onProgress(e) : undefined),
          });
    gap = monitor.stop();
    if (model !== state.model) return;
    bar.value = result.aborted ? bar.value : 1;
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const stopped = result.aborted ? `stopped after ${result.passes} complete epoch${result.passes === 1 ? '' : 's'}; ` : '';
    const rate = Number.isNaN(result.foolingRate) ? 'no epoch completed' : `fooling rate on these photos ${pct(result.foolingRate)}`;
    setText('compute-status', `Done in ${secs} s: ${stopped}${rate}. Longest frame gap while computing: ${gap.toFixed(0)} ms.`);
    $('compute-status').dataset.frameGapMs = gap.toFixed(1);
    $('compute-status').dataset.foolingRate = String(result.foolingRate);
    if (result.passes > 0) {
      setV(result.v, `computed here (SGD, ξ = ${xi}, ${result.passes} epochs, ${photos.length} photos)`, undefined,
        `v computed in this page: SGD, ℓ∞ ξ = ${xi}, ${result.passes} epoch${result.passes === 1 ? '' : 's'} on ${photos.length} gallery photos, ‖v‖∞ = ${maxAbsOf(result.v).toFixed(1)}.`);
      saveLink(result.v, shape);
      await refresh();
    }
  } finally {
    if (!gap) monitor.stop();
    if (state.computing === controller) state.computing = undefined;
    startBtn.disabled = false;
    stopBtn.disabled = true;
  }
}

/** A link to save the computed v as perturbation.npy (what `uap eval --perturbation` reads). */
function saveLink(v: Float32Array, shape: readonly number[]): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([writeNpy(v, shape) as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  a.download = 'perturbation.npy';
  a.textContent = 'save v (perturbation.npy)';
  $('pert-status').append(' ', a);
}

// ------------------------------------------------------------------ apply and download

async function download(type: 'image/png' | 'image/jpeg'): Promise<void> {
  clearError();
  const model = requireModel('download');
  const photo = state.photos[state.selected];
  const v = effectiveV();
  if (!photo || !v) throw new UapError('BAD_ARGUMENT', 'select a photo and load a perturbation first', 'download');
  const limit = maxAbsOf(v) * Number($<HTMLSelectElement>('apply-limit').value);
  const out = applyPerturbationToPhoto({ data: photo.full.data, width: photo.full.width, height: photo.full.height, channels: 4 }, v, model.inputShape, { limit });
  const canvas = new OffscreenCanvas(out.width, out.height);
  canvas.getContext('2d')!.putImageData(new ImageData(out.data as Uint8ClampedArray<ArrayBuffer>, out.width, out.height), 0, 0);
  const blob = await canvas.convertToBlob({ type, quality: 0.95 });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${photo.name.replace(/\.[^.]+$/, '')}-uap.${type === 'image/png' ? 'png' : 'jpg'}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  setText('download-status', `${a.download}: ${out.width}×${out.height}, the photo’s own size; pixels changed by at most ${limit.toFixed(1)}.`);
}

// ------------------------------------------------------------------ webcam

// ------------------------------------------------------------------ wiring

function on<K extends keyof HTMLElementEventMap>(id: string, event: K, f: (e: HTMLElementEventMap[K]) => unknown): void {
  $(id).addEventListener(event, (e) => {
    Promise.resolve()
      .then(() => f(e as HTMLElementEventMap[K]))
      .catch(showError);
  });
}

initPad();
on('model-select', 'change', showUrlBox);
on('model-load', 'click', loadChosenModel);
on('model-url', 'keydown', (e) => (e.key === 'Enter' ? loadChosenModel() : undefined));
on('pad-clear', 'click', () => {
  clearPad();
  state.selected = -1;
  return refresh();
});
on('photos', 'change', async (e) => {
  const input = e.target as HTMLInputElement;
  const files = [...(input.files ?? [])];
  input.value = '';
  if (files.length) await addPhotos(files);
});
on('gallery-clear', 'click', () => {
  state.photos = [];
  state.selected = -1;
  clearResult();
  return refresh();
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
on('drop', 'drop', async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const files = [...(e.dataTransfer?.files ?? [])];
  // A dropped perturbation.npy (+ .json) is a perturbation, not a photo.
  const pert = files.filter((f) => /\.(npy|json)$/i.test(f.name));
  const photos = files.filter((f) => !pert.includes(f));
  if (photos.length) await addPhotos(photos);
  if (pert.length) await loadPerturbationFiles(pert);
});
on('pert-file', 'change', async (e) => {
  const input = e.target as HTMLInputElement;
  const files = [...(input.files ?? [])];
  input.value = '';
  if (files.length) await loadPerturbationFiles(files);
});
on('pert-list', 'change', (e) => loadServedPerturbation((e.target as HTMLSelectElement).value));
on('pert-random', 'click', randomNoise);
on('xi', 'input', () => {
  setText('xi-out', $<HTMLInputElement>('xi').value);
  state.vVersion++;
  return refresh();
});
on('clip', 'change', () => {
  state.vVersion++;
  return refresh();
});
on('compute', 'click', computeInPage);
on('compute-stop', 'click', () => state.computing?.abort());
on('download-png', 'click', () => download('image/png'));
on('download-jpeg', 'click', () => download('image/jpeg'));
on('webcam-start', 'click', startWebcam);
on('webcam-stop', 'click', () => stopWebcam());

// Start: list the models, load the first (the repository's MNIST CNN when it is there).
void (async () => {
  try {
    await listModels();
    await initBackend().then((b) => setText('backend-status', `Backend: ${describeBackend(b)}.`));
    const fromQuery = new URLSearchParams(location.search).get('model');
    if (fromQuery && offer.models.some((m) => m.name === fromQuery)) $<HTMLSelectElement>('model-select').value = fromQuery;
    await loadChosenModel();
  } catch (e) {
    showError(e);
  }
})();
