import cliProgress from 'cli-progress';
import type { ZodType } from 'zod';
import { serializeResult } from '../index.js';

/** A progress bar on stderr (stdout stays clean for --json), silent when stderr is not a terminal or in CI. */
export function progressBar(label: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {status}`,
      stream: process.stderr,
      noTTYOutput: false,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
}

/**
 * A progress bar that restarts whenever its key changes (a new pass, a new epoch, a new |X|): the one bar of
 * every long command. `stop` is idempotent.
 */
interface StageBar {
  update(key: string, done: number, total: number, status: string): void;
  stop(): void;
}

export function stageBar(label: string): StageBar {
  const bar = progressBar(label);
  let current = '';
  return {
    update(key, done, total, status) {
      if (key !== current) {
        if (current) bar.stop();
        bar.start(total, 0, { status });
        current = key;
      }
      bar.update(done, { status });
    },
    stop() {
      if (current) bar.stop();
      current = '';
    },
  };
}

/**
 * Ctrl-C for long commands. The first SIGINT (or SIGTERM) aborts the signal handed to `work`: the attack stops
 * at its next step (well under a second: the attacks check the signal between DeepFool iterations, images and
 * SGD steps) and the command keeps what its last checkpoint holds — `kept` says where, in the message. A second
 * one exits at once with 130. The handlers are removed when `work` settles without an interrupt.
 */
export async function withInterrupts<T>(kept: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${name} again: exiting now\n`);
      process.exit(130);
    }
    process.stderr.write(`\ninterrupt (${name}): stopping; ${kept} (press Ctrl-C again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    // Once interrupted, the command is on its way out: a further Ctrl-C during that exits 130 at once, rather
    // than meeting no handler and killing the process by the signal.
    if (!controller.signal.aborted) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** What a command prints on stdout: with --json its result (checked against the result file's schema), else its lines. */
export function printResult(asJson: boolean | undefined, out: { json: unknown; lines: string[] }, schema: ZodType, name: string, indent = 2): void {
  if (asJson) console.log(serializeResult(schema, out.json, name, indent));
  else for (const line of out.lines) console.log(line);
}

/** What a command that prints a result returns: the JSON of its result file, the lines of its report, and `T`. */
export type CommandOutput<T = unknown> = T & { json: Record<string, unknown>; lines: string[] };

/** A rate as the CLI prints it: "85.0%", or "n/a" (NaN/null: undefined). */
function pct(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}

/**
 * The error rate as printed: "90.0%", or "n/a (no labels)" where no true label is known (a folder without
 * labels, a prior): the error rate is never made up from the model's own predictions.
 */
export function fmtErrorRate(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? 'n/a (no labels)' : pct(x);
}

/**
 * Both measures in one phrase, e.g. "fooling rate on X 85.0%, error rate 90.0%": the paper's fooling rate (top-1
 * changed) and the error rate (wrong against the true labels, what SGA and ART call their fooling rate).
 */
export function fmtMeasures(foolingRate: number, errorRate: number | null | undefined, where = ''): string {
  const on = where ? ` ${where}` : '';
  return `fooling rate${on} ${pct(foolingRate)}, error rate${on} ${fmtErrorRate(errorRate)}`;
}
