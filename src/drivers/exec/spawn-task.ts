/**
 * Starts one exec task: checks the command and cwd first (so a typo is a clear, final error rather
 * than exit 127), opens the per-task log files (`task-logs.ts`, under a log directory the driver made
 * beforehand), and spawns the process detached (its own session and
 * process group, pgid = pid) with stdout/stderr going to the files, never to the agent's stdout.
 *
 * With a cgroup, the process is started through a tiny `sh` wrapper that writes its own pid into
 * every `cgroup.procs` file and then `exec`s the command: the command's very first instruction
 * already runs (and is charged) inside the cgroup. Moving the pid from the agent after spawn would
 * race with the command, and memory charged before a move stays in the old cgroup.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, resolve } from 'node:path';
import type { ExecTaskConfig, TaskSpec } from '../contract.js';
import { RecoverableError } from '../errors.js';
import { taskLogPaths } from './task-logs.js';
import { TASK_ID_ENV } from './task-marker.js';

/** Exit code of the wrapper when it cannot join the cgroup (its stderr log says which file). */
export const CGROUP_JOIN_FAILED_EXIT = 125;

const JOIN_SCRIPT = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  `  echo $$ > "$1" || { echo "taskpulse: cannot join cgroup $1" >&2; exit ${CGROUP_JOIN_FAILED_EXIT}; }`,
  '  shift; n=$((n - 1))',
  'done',
  'exec "$@"',
].join('\n');

export interface SpawnTaskOptions {
  spec: TaskSpec;
  /** An existing, writable directory (the driver makes it once: see `ensureWritableDirectory`). */
  logDir: string;
  /** `cgroup.procs` files to join before the command runs. */
  procsFiles?: readonly string[];
  /** Merge the agent's environment under the task's. Default true. */
  inheritEnv?: boolean;
  /** Called synchronously with the pid as soon as the process exists. */
  onPid?: (pid: number) => void;
}

export interface SpawnedTask {
  child: ChildProcess;
  pid: number;
  command: string;
  stdoutPath: string;
  stderrPath: string;
}

/** Validates `TaskSpec.config` as `ExecTaskConfig`. */
export function execConfigOf(spec: TaskSpec): ExecTaskConfig {
  const { command, args, cwd } = spec.config as Partial<ExecTaskConfig>;
  if (typeof command !== 'string' || command === '') {
    throw new RecoverableError(`exec task ${spec.id}: config.command must be a non-empty string`, false);
  }
  if (args !== undefined && (!Array.isArray(args) || args.some((arg) => typeof arg !== 'string'))) {
    throw new RecoverableError(`exec task ${spec.id}: config.args must be an array of strings`, false);
  }
  if (cwd !== undefined && typeof cwd !== 'string') {
    throw new RecoverableError(`exec task ${spec.id}: config.cwd must be a string`, false);
  }
  return { command, ...(args ? { args } : {}), ...(cwd ? { cwd } : {}) };
}

/** Why a command cannot be run, in a shell's terms: 127 for `not found`, 126 for the others. */
export type CommandProblem = 'not found' | 'not executable' | 'a directory';

/** A command that cannot be run at all: final (retrying will not make it exist). */
export class CommandNotRunnableError extends RecoverableError {
  constructor(
    message: string,
    readonly command: string,
    readonly problem: CommandProblem,
  ) {
    super(message, false);
  }
}

/** Undefined when `path` is an executable file, else what is wrong with it. */
function problemWith(path: string): CommandProblem | undefined {
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) return 'a directory';
    if (!stats.isFile()) return 'not executable';
    accessSync(path, constants.X_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EACCES' ? 'not executable' : 'not found';
  }
}

/** The absolute path of `command` as `execvp` would find it, or a final error naming it. */
export function resolveCommand(command: string, cwd: string, pathVariable: string | undefined): string {
  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    const problem = problemWith(path);
    if (problem === undefined) return path;
    throw new CommandNotRunnableError(
      `command not found or not executable: ${command} (cwd ${cwd})`,
      command,
      problem,
    );
  }
  // As a shell: a file found on PATH but not executable is "not executable" (126), unless an
  // executable one comes later.
  let found: CommandProblem = 'not found';
  for (const dir of (pathVariable ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = resolve(cwd, dir, command);
    const problem = problemWith(path);
    if (problem === undefined) return path;
    if (problem === 'not executable') found = problem;
  }
  throw new CommandNotRunnableError(`command not found in PATH: ${command}`, command, found);
}

function checkCwd(cwd: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(cwd).isDirectory();
  } catch {
    // Reported below.
  }
  if (!isDirectory) throw new RecoverableError(`working directory does not exist: ${cwd}`, false);
}

export async function spawnTask(options: SpawnTaskOptions): Promise<SpawnedTask> {
  const { spec, logDir, procsFiles = [] } = options;
  const config = execConfigOf(spec);
  const cwd = resolve(config.cwd ?? process.cwd());
  checkCwd(cwd);
  // The task id in the environment: how a process that left the task's tree is still told apart.
  const env: NodeJS.ProcessEnv = {
    ...(options.inheritEnv === false ? {} : process.env),
    ...spec.env,
    [TASK_ID_ENV]: spec.id,
  };
  const command = resolveCommand(config.command, cwd, env.PATH);
  const args = config.args ?? [];

  const logs = taskLogPaths(logDir, spec.allocId ?? spec.id, spec.name);
  // One level under a directory known to exist: never a recursive mkdir (it spins on /proc/x).
  try {
    mkdirSync(logs.dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stdoutPath = logs.live('stdout');
  const stderrPath = logs.live('stderr');
  const out = openSync(stdoutPath, 'a');
  let err: number | undefined;
  try {
    err = openSync(stderrPath, 'a');
    const [file, argv] =
      procsFiles.length === 0
        ? [command, args]
        : [
            '/bin/sh',
            ['-c', JOIN_SCRIPT, 'taskpulse-join', String(procsFiles.length), ...procsFiles, command, ...args],
          ];
    const child = spawn(file, argv, { cwd, env, detached: true, stdio: ['ignore', out, err] });
    if (child.pid !== undefined) options.onPid?.(child.pid);
    try {
      await once(child, 'spawn');
    } catch (error) {
      throw new RecoverableError(`cannot start ${config.command}: ${(error as Error).message}`, false, {
        cause: error,
      });
    }
    return { child, pid: child.pid!, command, stdoutPath, stderrPath };
  } finally {
    // The child holds its own copies of the log fds.
    closeSync(out);
    if (err !== undefined) closeSync(err);
  }
}
