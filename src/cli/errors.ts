/**
 * Exit codes and the error that carries one. This is the one table of them: the commands' help
 * texts and docs/getting-started.md ("Exit codes") say the same.
 */

export const EXIT = {
  ok: 0,
  /** A task failed (its restart policy gave up, or it could not start), or a stop missed its deadline. */
  taskFailed: 1,
  /** Bad usage, an invalid job file or an unusable output path: nothing was started. */
  usage: 2,
  /** `run`: the command was found but cannot be executed (as a shell's 126). */
  notExecutable: 126,
  /** `run`: the command was not found (as a shell's 127). */
  cannotStart: 127,
  /** A second stop signal ended the process at once, after SIGKILLing every task: 128 + SIGINT. */
  forced: 130,
  /** A bug in taskpulse (an error nobody expected; the stack trace is printed). EX_SOFTWARE. */
  internal: 70,
  /** `run`: stdout failed for another reason than a closed pipe (EX_IOERR); the command was stopped. */
  outputError: 74,
  /** `run`: stdout was closed (EPIPE); the command was stopped, as a pipeline's SIGPIPE (128 + 13). */
  outputClosed: 141,
} as const;

/** The "Exit codes:" lines of a command's help, with codes from the table above. */
export function exitCodesHelp(lines: [code: number | string, meaning: string][]): string {
  return `Exit codes:\n${lines.map(([code, meaning]) => `  ${String(code).padEnd(7)}${meaning}`).join('\n')}`;
}

/** A failure to report in one line on stderr (no stack trace) and exit with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
