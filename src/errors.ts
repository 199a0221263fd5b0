/**
 * One error type for everything a user can get wrong. `code` says what kind of failure it is
 * (the CLI maps it to an exit code), `input` names the offending file, flag or value.
 */
export type UapErrorCode =
  | 'BAD_ARGUMENT' // a flag or option out of range (ξ ≤ 0, δ outside (0,1), unknown norm …)
  | 'BAD_INPUT' // a file that is not what it claims (corrupt image, non-.npy, NaN values, wrong shape)
  | 'NOT_FOUND' // a missing file, model or dataset
  | 'BAD_MODEL' // a malformed or unsupported model (bad model.json, truncated shard, unsupported op)
  | 'SECURITY' // a path that escapes a model folder, a download that is too large
  | 'INTERRUPTED'; // the user stopped a long job (the last checkpoint is kept)

export class UapError extends Error {
  constructor(
    readonly code: UapErrorCode,
    message: string,
    readonly input?: string,
  ) {
    super(input === undefined ? message : `${input}: ${message}`);
    this.name = 'UapError';
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
