/**
 * The `taskpulse` command line (commander), importable without running: `main.ts` is the entry
 * point, and tests drive `main(argv)` in-process. Errors meant for the user print one line (or a
 * list) on stderr, never a stack trace.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import type { Logger } from '../runtime/logger.js';
import { MissingPackageError } from '../runtime/optional-package.js';
import { expandInspectPort } from './argv.js';
import { watchOutput } from './closed-output.js';
import { registerAgent } from './commands/agent.js';
import { registerLogs } from './commands/logs.js';
import { registerMachines } from './commands/machines.js';
import { registerPlugin } from './commands/plugin.js';
import { registerRun } from './commands/run.js';
import { registerStats } from './commands/stats.js';
import { registerStatus } from './commands/status.js';
import { registerTaskControl } from './commands/task-control.js';
import { registerValidate } from './commands/validate.js';
import { CliError, EXIT } from './errors.js';
import { createCliLogger, LOG_LEVELS, type LogFormat } from './logger.js';

export interface GlobalFlags {
  logger: Logger;
}

// By the package's own name, so the same line works from src/ (development) and dist/ (built).
const { version } = createRequire(import.meta.url)('taskpulse/package.json') as { version: string };

/** Options every command takes, before or after its name (`run --log-level debug -- cmd`). */
const globalOptions = () => [
  new Option('--log-level <level>', 'log level (logs go to stderr)').choices(LOG_LEVELS),
  new Option('--log-format <format>', 'pretty (only when stderr is a terminal) or json').choices([
    'pretty',
    'json',
  ]),
];

/** Commands whose arguments are a command line of its own: options after its first word are its. */
const COMMAND_LINE_COMMANDS: ReadonlySet<string> = new Set(['run']);

export function createProgram(): Command {
  const program = new Command('taskpulse');
  let logger: Promise<Logger> | undefined;
  // The global options as given before or after the command's name.
  let given: { logLevel?: string; logFormat?: LogFormat } = {};
  // `run` is quiet by default (its output is the command's usage); the agent tells what it does.
  const globals = (defaultLevel: string) => async (): Promise<GlobalFlags> => {
    logger ??= createCliLogger(given.logLevel ?? defaultLevel, given.logFormat);
    return { logger: await logger };
  };
  program
    .description('Supervise tasks (processes, containers) as XState actors and stream their resource usage.')
    .version(version, '-V, --version');
  for (const option of globalOptions()) program.addOption(option);
  program
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ taskpulse agent examples/demo.job.yaml          run jobs with a live table and an HTTP API on :4646
  $ taskpulse run -- node -e 'for(;;){}'            watch one command's CPU and memory
  $ taskpulse validate my.job.yaml                  check a job file
  $ taskpulse machines --format mermaid             print the state machines
  $ taskpulse status                                a running agent's tasks, from another shell
  $ taskpulse stats                                 its live usage table (as docker stats)
  $ taskpulse logs -f flaky                         follow one of its tasks' output
  $ taskpulse restart busy                          restart one of its tasks now

Docs: docs/getting-started.md`,
    );
  // On a terminal the agent's live table says what its info lines would, and lines written between
  // two redraws would be overwritten; piped, the info lines are the record.
  registerAgent(program, globals(process.stdout.isTTY && process.stderr.isTTY ? 'warn' : 'info'));
  registerRun(program, globals('warn'));
  registerValidate(program);
  registerMachines(program);
  // Commands against a running agent, over its HTTP API.
  registerStatus(program);
  registerStats(program);
  registerLogs(program);
  registerTaskControl(program);
  // Serving a driver to a host (launched by an agent or a go-plugin host, not by hand).
  registerPlugin(program);
  for (const command of program.commands) {
    for (const option of globalOptions()) command.addOption(option);
  }
  program.hook('preAction', (_program, action) => {
    // The later one wins: `--log-level warn run --log-level debug` logs at debug.
    given = { ...program.opts(), ...action.opts() };
  });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // A closed stdout or stderr (EPIPE) must never crash the process: see closed-output.ts.
  watchOutput(process.stdout);
  watchOutput(process.stderr);
  const program = createProgram();
  try {
    await program.parseAsync(expandInspectPort(program, argv, COMMAND_LINE_COMMANDS));
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; usage mistakes were already printed.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`taskpulse: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof MissingPackageError) {
      // An optional package a flag needs (`--inspect`, `--log-format pretty`): nothing was started.
      process.stderr.write(`taskpulse: ${error.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`taskpulse: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.internal;
  }
}
