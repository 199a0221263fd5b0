import { UapError } from '../errors.js';

/**
 * Cooperative interruption. An attack runs as a chain of awaits on tensor reads that resolve at once on the
 * CPU and wasm backends, so without a real turn of the event loop a Ctrl-C handler (or a web page's Stop
 * button) would not run until the chain ends — at the end of the pass. `stopRequested` gives the loop that
 * turn before it reads the signal: every place an attack checks for an abort is also a place where the abort
 * can arrive. The turn costs microseconds in Node (setImmediate) and is skipped when there is no signal.
 */
export async function stopRequested(signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return false;
  if (!signal.aborted) await nextTurn();
  return signal.aborted;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

/** The error an attack throws from deep inside a computation when stopped (its caller discards the partial work). */
export function interrupted(what: string): UapError {
  return new UapError('INTERRUPTED', `${what} stopped`);
}

export function isInterrupted(err: unknown): boolean {
  return err instanceof UapError && err.code === 'INTERRUPTED';
}
