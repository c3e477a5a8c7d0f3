/** Exit codes and the error that carries one. */

export const EXIT = {
  ok: 0,
  /** A task failed (its restart policy gave up, or it could not start). */
  taskFailed: 1,
  /** Bad usage or an invalid job file: nothing was started. */
  usage: 2,
  /** `run`: the command could not be started (as a shell's 127). */
  cannotStart: 127,
} as const;

/** A failure to report in one line on stderr (no stack trace) and exit with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
