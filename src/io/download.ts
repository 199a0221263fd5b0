import { UapError } from '../errors.js';

/**
 * One download helper for every file uap fetches (model.json, weight shards, .tflite files), browser-safe.
 *
 * `await fetch()` only waits for the headers; a server can then stall, drip one byte every ten seconds, or
 * close the connection mid-body, and an unguarded `reader.read()` hangs forever or rejects with undici's
 * bare `TypeError: terminated`. So every download here runs under
 * - a total deadline (`timeoutMs`, headers and body together),
 * - an idle timeout (`idleTimeoutMs`: no byte for that long, before or after the headers),
 * - a size cap (`maxBytes`, checked against Content-Length first, then while the body streams),
 * and every read of the body is guarded, so each failure is one UapError that says what happened:
 * "timed out after 30 s", "no data for 10 s after 1234 bytes", "connection closed after 1234 of 5000 bytes".
 *
 * Redirects are followed by hand (at most `maxRedirects`), so each hop is checked before it is fetched:
 * http(s) only, no https → http downgrade, and — when `allowOrigin` is given — an origin it accepts. That is
 * how a weight shard stays on its model's origin even when the server answers with a 302 to another host.
 * (Browsers hide the Location of a manual redirect; there the redirect is followed by fetch and only the
 * final URL can be checked.)
 */

/** The part of fetch that downloads use (inject one to test, or to add headers). */
export type FetchLike = (url: string, init?: { signal?: AbortSignal; redirect?: 'follow' | 'manual' }) => Promise<Response>;

/** Limits and hooks of one download (see download()). */
export interface DownloadOptions {
  fetch?: FetchLike;
  /** Largest body accepted (default 256 MiB); SECURITY when over it. */
  maxBytes?: number;
  /** Deadline of the whole download, headers and body (default 10 min). */
  timeoutMs?: number;
  /** Longest wait for the next byte (default 30 s). */
  idleTimeoutMs?: number;
  /** Redirect hops followed (default 5). */
  maxRedirects?: number;
  /** Origins (scheme://host:port) a redirect may lead to; default: any http(s) origin. */
  allowOrigin?: (origin: string) => boolean;
  /** Names the file in messages when the URL alone would not (default: the URL). */
  name?: string;
  /** Cancels the download (e.g. Ctrl-C). */
  signal?: AbortSignal;
}

export interface Downloaded {
  bytes: Uint8Array;
  /** The URL the bytes came from, after redirects. */
  url: string;
  /** Every URL visited, the first one included. */
  hops: string[];
}

export const DEFAULT_DOWNLOAD_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 10 * 60 * 1000;
export const DEFAULT_DOWNLOAD_IDLE_MS = 30 * 1000;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function seconds(ms: number): string {
  return `${+(ms / 1000).toFixed(2)} s`;
}

function bytesOf(n: number, of: number): string {
  return Number.isFinite(of) ? `${n} of ${of} bytes` : `${n} bytes`;
}

/** Downloads `url` under the limits above; UapError NOT_FOUND (missing, network, timeout) or SECURITY (size, redirect). */
export async function download(url: string, opts: DownloadOptions = {}): Promise<Downloaded> {
  const fetchFn = opts.fetch ?? (globalThis.fetch as FetchLike | undefined);
  const name = opts.name ?? url;
  if (!fetchFn) throw new UapError('NOT_FOUND', 'no fetch available to download', name);
  const maxBytes = opts.maxBytes ?? DEFAULT_DOWNLOAD_MAX_BYTES;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_DOWNLOAD_IDLE_MS;
  const maxRedirects = opts.maxRedirects ?? 5;

  const controller = new AbortController();
  // Why the download was aborted, to say so instead of "This operation was aborted".
  let reason: 'deadline' | 'idle' | 'cancelled' | undefined;
  let received = 0;
  let expected = NaN;
  let inBody = false;
  const abort = (why: 'deadline' | 'idle' | 'cancelled') => {
    if (reason) return;
    reason = why;
    controller.abort();
  };
  const deadline = setTimeout(() => abort('deadline'), timeoutMs);
  let idle: ReturnType<typeof setTimeout> | undefined;
  let lastProgress = Date.now();
  let done = false;
  // An event loop that was busy (a wasm compile, a loaded machine) runs a due timer before the I/O that
  // arrived meanwhile: look again after that I/O (setTimeout 0 runs after it) before calling it idle.
  const onIdle = () =>
    setTimeout(() => {
      if (done) return;
      const quiet = Date.now() - lastProgress;
      if (quiet >= idleMs) abort('idle');
      else idle = setTimeout(onIdle, idleMs - quiet);
    }, 0);
  const touch = () => {
    lastProgress = Date.now();
    if (idle !== undefined) clearTimeout(idle);
    idle = setTimeout(onIdle, idleMs);
  };
  const onCancel = () => abort('cancelled');
  if (opts.signal?.aborted) abort('cancelled');
  opts.signal?.addEventListener('abort', onCancel, { once: true });

  const failure = (e: unknown): UapError => {
    if (e instanceof UapError) return e;
    if (reason === 'deadline') return new UapError('NOT_FOUND', `download timed out after ${seconds(timeoutMs)} (${bytesOf(received, expected)} received)`, name);
    if (reason === 'idle') {
      return !inBody
        ? new UapError('NOT_FOUND', `download timed out: no answer for ${seconds(idleMs)}`, name)
        : new UapError('NOT_FOUND', `download timed out: no data for ${seconds(idleMs)} after ${bytesOf(received, expected)}`, name);
    }
    if (reason === 'cancelled') return new UapError('INTERRUPTED', 'download cancelled', name);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    return !inBody
      ? new UapError('NOT_FOUND', `download failed: ${why}`, name)
      : new UapError('NOT_FOUND', `download failed: connection closed after ${bytesOf(received, expected)} (${why})`, name);
  };

  try {
    touch();
    const hops = [url];
    let current = url;
    let res: Response;
    for (;;) {
      res = await fetchFn(current, { signal: controller.signal, redirect: 'manual' });
      touch();
      if (res.type === 'opaqueredirect') {
        // A browser: the Location is hidden; let fetch follow and check where it ended.
        res = await fetchFn(current, { signal: controller.signal, redirect: 'follow' });
        touch();
        if (res.url && res.url !== current) checkHop(res.url, current, opts, name);
        break;
      }
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || !location) break;
      await res.body?.cancel().catch(() => undefined);
      if (hops.length > maxRedirects) throw new UapError('NOT_FOUND', `download failed: more than ${maxRedirects} redirects`, name);
      const next = new URL(location, current).href;
      checkHop(next, current, opts, name);
      hops.push(next);
      current = next;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new UapError('NOT_FOUND', `download failed: HTTP ${res.status}${hops.length > 1 ? ` from ${current}` : ''}`, name);
    }
    const lenHeader = res.headers.get('content-length');
    expected = lenHeader === null || lenHeader.trim() === '' ? NaN : Number(lenHeader);
    if (expected > maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new UapError('SECURITY', `download is ${expected} bytes, over the ${maxBytes}-byte limit`, name);
    }
    inBody = true;
    const bytes = await readBody(res, maxBytes, name, (n) => {
      received = n;
      touch();
    });
    if (Number.isFinite(expected) && bytes.length !== expected) {
      throw new UapError('NOT_FOUND', `download failed: connection closed after ${bytesOf(bytes.length, expected)}`, name);
    }
    return { bytes, url: current, hops };
  } catch (e) {
    throw failure(e);
  } finally {
    done = true;
    clearTimeout(deadline);
    if (idle !== undefined) clearTimeout(idle);
    opts.signal?.removeEventListener('abort', onCancel);
  }
}

function checkHop(next: string, from: string, opts: DownloadOptions, name: string): void {
  const u = new URL(next);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UapError('SECURITY', `download redirected to ${next}: only http(s) is followed`, name);
  }
  if (new URL(from).protocol === 'https:' && u.protocol === 'http:') {
    throw new UapError('SECURITY', `download redirected from https to plain http (${next})`, name);
  }
  if (opts.allowOrigin && !opts.allowOrigin(u.origin)) {
    throw new UapError('SECURITY', `download redirected to another origin (${u.origin}): weight files must stay on the model's origin`, name);
  }
}

/** Reads a body to the end, every read guarded by the caller's timers; SECURITY when over `maxBytes`. */
async function readBody(res: Response, maxBytes: number, name: string, progress: (n: number) => void): Promise<Uint8Array> {
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    if (b.length > maxBytes) throw new UapError('SECURITY', `download is over the ${maxBytes}-byte limit`, name);
    return b;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) throw new UapError('SECURITY', `download is over the ${maxBytes}-byte limit`, name);
      parts.push(value);
      progress(total);
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
