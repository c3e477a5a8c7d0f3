/**
 * `taskpulse run -- <cmd…>`: supervises one command and shows its usage live; exits with the
 * command's exit code (128 + signal number when a signal ended it, as shells do). The job and agent
 * modules are imported when the command runs, so other commands do not load them.
 */
import { constants } from 'node:os';
import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import type { Job, JobInput } from '../../agent/job-schema.js';
import { CommandNotRunnableError, resolveCommand } from '../../drivers/exec/spawn-task.js';
import { cpusArg, memoryArg } from '../docker-limits.js';
import { CliError, EXIT, exitCodesHelp } from '../errors.js';
import {
  cgroupParentOption,
  durationArg,
  type InspectFlags,
  inspectOptions,
  inspectSettings,
  intervalArg,
  outputOption,
} from '../options.js';
import type { GlobalFlags } from '../program.js';

interface RunFlags extends InspectFlags {
  driver: 'exec' | 'docker' | 'mock';
  interval: number;
  killTimeout: number;
  output?: string;
  dockerSocket?: string;
  cgroupParent?: string;
  keepLogs?: boolean;
  cpus?: number;
  memory?: number;
}

function taskName(command: string): string {
  const name = basename(command).replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z0-9]/.test(name) ? name : `task${name}`;
}

function configFor(flags: RunFlags, [command, ...args]: string[]): Record<string, unknown> {
  const { driver } = flags;
  if (driver === 'docker') {
    return {
      image: command,
      ...(args.length > 0 ? { command: args } : {}),
      ...(flags.cpus === undefined ? {} : { cpus: flags.cpus }),
    };
  }
  if (driver === 'mock') return {};
  return { command, args };
}

export function registerRun(program: Command, globals: () => Promise<GlobalFlags>): void {
  const command = program
    .command('run')
    .description('supervise one command and show its CPU and memory live, then a summary')
    .argument('<command...>', 'the command and its arguments (after --)')
    .addOption(
      new Option('--driver <driver>', 'how to run it').choices(['exec', 'docker', 'mock']).default('exec'),
    )
    .addOption(
      new Option('--interval <duration>', 'sampling interval').argParser(intervalArg).default(1000, '1s'),
    )
    .addOption(
      new Option('--kill-timeout <duration>', 'grace period after SIGTERM on Ctrl-C')
        .argParser(durationArg)
        .default(5000, '5s'),
    )
    .addOption(outputOption())
    .option(
      '--docker-socket <path>',
      'Docker Engine socket (docker driver; default: DOCKER_HOST, else /var/run/docker.sock)',
    )
    .addOption(
      new Option('--cpus <cores>', 'docker: CPU limit in cores, as docker run --cpus').argParser(cpusArg),
    )
    .addOption(
      new Option('--memory <bytes>', 'docker: memory limit, as docker run --memory (64m, 1g)').argParser(
        memoryArg,
      ),
    )
    .addOption(cgroupParentOption())
    .option('--keep-logs', "keep the command's log files (stdout, stderr) after it ends")
    .passThroughOptions();
  for (const option of inspectOptions()) command.addOption(option);
  command
    .addHelpText(
      'after',
      `
Examples:
  $ taskpulse run -- node build.js
  $ taskpulse run --interval 500ms -- python3 train.py --epochs 3
  $ taskpulse run --output json -- ./bench.sh | jq 'select(.type == "stats") .cpu_percent'
  $ taskpulse run --driver docker -- alpine:3 sleep 5
  $ taskpulse run --driver docker --cpus 0.5 --memory 64m -- busybox sh -c 'while :; do :; done'

${exitCodesHelp([
  ['0-125', "the command's own exit code"],
  [EXIT.usage, 'bad usage or an unusable output path (nothing started)'],
  [EXIT.outputError, 'stdout failed (not a closed pipe): the command was stopped'],
  [EXIT.notExecutable, 'the command was found but cannot be executed'],
  [EXIT.cannotStart, 'the command was not found'],
  ['128+n', 'signal n ended the command (143: SIGTERM, after a stop signal to run)'],
  [EXIT.forced, 'a second stop signal forced the exit (the command SIGKILLed first)'],
  [EXIT.outputClosed, 'stdout was closed (| head): the command was stopped, as by SIGPIPE'],
])}

Signals as for \`agent\` (see its --help and docs/cli.md).`,
    )
    .action(async (argv: string[], flags: RunFlags) => {
      const [first] = argv;
      if (first === undefined) throw new CliError('run: no command given', EXIT.usage);
      // As a shell: a command that cannot be run is one line and 126 or 127, before anything
      // starts (no table, no task events, no restart policy to talk about).
      if (flags.driver === 'exec' && first !== '' && !first.includes('\0')) checkRunnable(first);
      if ((flags.cpus !== undefined || flags.memory !== undefined) && flags.driver !== 'docker') {
        throw new CliError('run: --cpus and --memory need --driver docker', EXIT.usage);
      }
      const [{ formatProblem, JobFileError, parseJob }, { supervise }] = await Promise.all([
        import('../../agent/load-job.js'),
        import('../supervise.js'),
      ]);
      const input: JobInput = {
        name: 'run',
        type: 'batch',
        groups: [
          {
            name: 'run',
            // One run, no restarts: the command's own exit code is the answer.
            restart: { attempts: 0, mode: 'fail' },
            tasks: [
              {
                name: taskName(first),
                driver: flags.driver,
                config: configFor(flags, argv),
                // MiB, as job files give it; docker run's bytes become the same container limit.
                ...(flags.memory === undefined ? {} : { resources: { memory: flags.memory / 2 ** 20 } }),
                stats_interval: flags.interval,
                kill_timeout: flags.killTimeout,
              } as JobInput['groups'][number]['tasks'][number],
            ],
          },
        ],
      };
      let job: Job;
      try {
        job = parseJob(input, 'run');
      } catch (error) {
        // The command line became a job: its problems are usage errors (an empty command, a NUL byte).
        if (!(error instanceof JobFileError)) throw error;
        throw new CliError(`run: ${error.problems.map(formatProblem).join('; ')}`, EXIT.usage);
      }
      const { logger } = await globals();
      const summary = await supervise({
        logger,
        output: flags.output,
        onSignal: 'kill',
        onOutputClosed: 'stop',
        refreshMs: flags.interval,
        // As `time`: the command's own output is shown (the live table stays below it).
        passThrough: true,
        ...inspectSettings(flags),
        agent: {
          jobs: [job],
          ...(flags.dockerSocket ? { dockerSocketPath: flags.dockerSocket } : {}),
          ...(flags.cgroupParent ? { execCgroupParent: flags.cgroupParent } : {}),
          ...(flags.keepLogs ? { keepLogs: true } : {}),
        },
      });
      if (summary.stdoutClosedBy !== undefined) {
        process.exitCode = summary.stdoutClosedBy === 'EPIPE' ? EXIT.outputClosed : EXIT.outputError;
        return;
      }
      const task = summary.tasks[0];
      if (!task) throw new CliError('run: the task did not start', EXIT.cannotStart);
      process.exitCode = exitCodeOf(task.exitCode, task.signal, task.failed);
    });
}

function checkRunnable(command: string): void {
  try {
    resolveCommand(command, process.cwd(), process.env.PATH);
  } catch (error) {
    if (!(error instanceof CommandNotRunnableError)) throw error;
    const code = error.problem === 'not found' ? EXIT.cannotStart : EXIT.notExecutable;
    const problem = error.problem === 'a directory' ? 'is a directory' : error.problem;
    throw new CliError(`cannot run '${command}': ${problem}`, code);
  }
}

export function exitCodeOf(exitCode: number | null, signal: string | null, failed: boolean): number {
  if (exitCode !== null) return exitCode;
  if (signal !== null) {
    const number = (constants.signals as Record<string, number | undefined>)[signal];
    return 128 + (number ?? 0);
  }
  return failed ? EXIT.cannotStart : EXIT.ok;
}
