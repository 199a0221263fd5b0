import { CommanderError, type Command } from 'commander';
import { EXIT_CODES, UapError } from '../index.js';

/**
 * Every failure of the CLI is one line on stderr, `uap: …`, and an exit code that says what kind it was:
 * UapErrors by their code (bad arguments 2, bad input 3, …), Commander's own parse errors (unknown flag,
 * missing option) 2 like our other bad arguments, anything else (a tfjs or wasm failure) 1, with only the
 * first line of its message; UAP_DEBUG=1 adds the stack. Library messages name options as the library
 * does (`overshoot`); here they become the running command's flags (`--overshoot`), and a hint to pass a
 * flag is kept only when the command has that flag.
 */

/** Longest line we print of a foreign error (minified sources can be one 39 KB line). */
const MAX_LINE = 300;

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
}

/**
 * The flag (`--batch-size`) of `command` or one of its parents whose option is called `option` (`batchSize`;
 * case aside, as Commander spells --max-iter-deepfool `maxIterDeepfool` where the library says `maxIterDeepFool`).
 */
export function flagFor(command: Command | undefined, option: string): string | undefined {
  const wanted = option.toLowerCase();
  for (let c: Command | null | undefined = command; c; c = c.parent) {
    const o = c.options.find((opt) => opt.attributeName().toLowerCase() === wanted && opt.long);
    if (o) return o.long;
  }
  return undefined;
}

/** The line to print (without `uap: `) for a UapError raised while `command` ran. */
export function describeUapError(err: UapError, command?: Command): string {
  const flag = err.option === undefined ? undefined : flagFor(command, err.option);
  let text = flag ? `${flag}: ${err.detail}` : err.message;
  const hintFlag = err.hint && flagFor(command, err.hint.option);
  if (err.hint && hintFlag) text += `; pass ${hintFlag} ${err.hint.text}`;
  return firstLine(text);
}

/** One line and an exit code for anything a command threw. */
export function reportError(err: unknown, command?: Command): { line: string; exitCode: number } {
  if (err instanceof UapError) return { line: `uap: ${describeUapError(err, command)}`, exitCode: EXIT_CODES[err.code] };
  const message = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  return { line: `uap: ${firstLine(message) || 'unknown error'}`, exitCode: 1 };
}

/** Prints `err` as reportError says (and its stack with UAP_DEBUG=1) and exits. */
export function exitWithError(err: unknown, command?: Command): never {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.BAD_ARGUMENT);
  const { line, exitCode } = reportError(err, command);
  console.error(line);
  if (process.env.UAP_DEBUG === '1' && err instanceof Error && err.stack) console.error(err.stack);
  process.exit(exitCode);
}

/**
 * Commander's own errors as one `uap: …` line naming the command's help (instead of "error: …" and the
 * whole help text). Applies to `program` and every command registered on it so far.
 */
export function oneLineCommanderErrors(program: Command): void {
  const visit = (c: Command, path: string) => {
    c.configureOutput({
      // "error: unknown option '--xx'\n(Did you mean --xi?)" → one line
      outputError: (str, write) => write(`uap: ${str.trim().replace(/^error: /, '').split(/\s*\n\s*/).join(' ')} (see 'uap${path} --help')\n`),
    });
    for (const sub of c.commands) visit(sub, `${path} ${sub.name()}`);
  };
  visit(program, '');
}
