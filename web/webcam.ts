import { addPerturbation, pixelsToImage, UapError } from '../src/index.js';
import { frameToImageData, modelInput } from './photos.js';
import { className, effectiveV, requireModel, state, topK } from './state.js';
import { $, clearError, draw, setText } from './ui.js';

/** The webcam: each frame resized and cropped like a photo, v added live, top-1 on x and on clip(x + v), frames per second. */

export async function startWebcam(): Promise<void> {
  clearError();
  const model = requireModel('webcam');
  if (!navigator.mediaDevices?.getUserMedia) throw new UapError('NOT_FOUND', 'this browser gives the page no camera (needs https or localhost)', 'webcam');
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    throw new UapError('NOT_FOUND', `no camera: ${(e as Error).message}`, 'webcam');
  }
  const video = $<HTMLVideoElement>('webcam-video');
  video.srcObject = stream;
  await video.play();
  const cam = { stream, stop: false };
  state.webcam = cam;
  $('webcam-box').hidden = false;
  $<HTMLButtonElement>('webcam-start').disabled = true;
  $<HTMLButtonElement>('webcam-stop').disabled = false;
  const shape = model.inputShape;
  let frames = 0;
  let since = performance.now();
  while (!cam.stop && state.model === model) {
    await new Promise((r) => requestAnimationFrame(r));
    if (!video.videoWidth) continue;
    const x = modelInput(frameToImageData(video, video.videoWidth, video.videoHeight), shape);
    const v = effectiveV();
    const clip = $<HTMLInputElement>('clip').checked;
    const xv = v ? addPerturbation(x, v, clip) : x;
    draw('webcam-view', pixelsToImage(v ? addPerturbation(x, v, true) : x, shape));
    const [a, b] = await topK(model, v ? [x, xv] : [x], 1);
    if (cam.stop || state.model !== model) break;
    const ca = className(a![0]!.index);
    setText('webcam-caption', v ? `x: ${ca} · clip(x + v): ${className(b![0]!.index)}` : `x: ${ca} (no v loaded)`);
    frames++;
    const now = performance.now();
    if (now - since >= 1000) {
      const fps = (frames * 1000) / (now - since);
      setText('fps', `${fps.toFixed(1)} fps`);
      $('fps').dataset.fps = fps.toFixed(2);
      frames = 0;
      since = now;
    }
  }
  stopWebcam(cam);
}

export function stopWebcam(cam = state.webcam): void {
  if (!cam) return;
  cam.stop = true;
  for (const t of cam.stream.getTracks()) t.stop();
  if (state.webcam === cam) state.webcam = undefined;
  $<HTMLButtonElement>('webcam-start').disabled = false;
  $<HTMLButtonElement>('webcam-stop').disabled = true;
}
