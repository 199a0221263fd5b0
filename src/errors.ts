/**
 * One error type for everything a user can get wrong. `code` says what kind of failure it is
 * (the CLI maps it to an exit code), `input` names the offending file, option or value. Messages name
 * library options (`overshoot`), never CLI flags: the CLI maps options to its flags (src/cli/errors.ts).
 */
export type UapErrorCode =
  | 'BAD_ARGUMENT' // a flag or option out of range (ξ ≤ 0, δ outside (0,1), unknown norm …)
  | 'BAD_INPUT' // a file that is not what it claims (corrupt image, non-.npy, NaN values, wrong shape)
  | 'NOT_FOUND' // a missing file, model or dataset
  | 'BAD_MODEL' // a malformed or unsupported model (bad model.json, truncated shard, unsupported op)
  | 'SECURITY' // a path that escapes a model folder, a download that is too large
  | 'INTERRUPTED'; // the user stopped a long job (the last checkpoint is kept)

/**
 * Advice that a library option would fix the problem, e.g. `{ option: 'resize', text: 'to resize the
 * perturbation to 28×28×1' }`. It is not part of the message: the CLI appends "; pass --resize …" only for a
 * command that has that flag, and the web page says what the way out is there.
 */
export interface OptionHint {
  option: string;
  text: string;
}

/** Optional details of a UapError: the library option it is about and a hint of how to fix it. */
export interface UapErrorDetails {
  /** The library option the error is about (default: `input` when it is a bare identifier of a BAD_ARGUMENT). */
  option?: string;
  hint?: OptionHint;
}

const IDENTIFIER = /^[a-z][A-Za-z0-9]*$/;

/**
 * Control characters shown escaped (`\0`, `\x1b` …), so that a NUL byte or an escape sequence from a file
 * (a weight path in model.json, a line of a data list) cannot hide or garble the one line a user reads.
 * Newlines are kept in messages (the CLI prints the first line) but escaped in the `input` they name.
 */
function printable(text: string, escapeNewlines = false): string {
  const re = escapeNewlines ? /[\u0000-\u001f\u007f-\u009f]/g : /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;
  return text.replace(re, (c) => (c === '\0' ? '\\0' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/**
 * The one error uap throws for bad input of any kind: `code` says which kind, `input` names the file, option or
 * value, and the message is one line.
 */
export class UapError extends Error {
  /** The message without its `input: ` prefix. */
  readonly detail: string;
  /**
   * The option (as the library names it: `overshoot`, `batchSize`) a BAD_ARGUMENT is about; the CLI shows it
   * as its own flag (`--overshoot`, `--batch-size`) where the command has one.
   */
  readonly option?: string;
  readonly hint?: OptionHint;

  constructor(
    readonly code: UapErrorCode,
    message: string,
    readonly input?: string,
    details: UapErrorDetails = {},
  ) {
    super(input === undefined ? printable(message) : `${printable(input, true)}: ${printable(message)}`);
    this.name = 'UapError';
    this.detail = printable(message);
    const named = code === 'BAD_ARGUMENT' && input !== undefined && IDENTIFIER.test(input) ? input : undefined;
    this.option = details.option ?? named;
    this.hint = details.hint;
  }
}

/** Exit codes of the CLI, one per error kind. */
export const EXIT_CODES: Record<UapErrorCode, number> = {
  BAD_ARGUMENT: 2,
  BAD_INPUT: 3,
  NOT_FOUND: 4,
  BAD_MODEL: 5,
  SECURITY: 6,
  INTERRUPTED: 130,
};
