/**
 * Re-attaching an exec task in a driver that did not start it (a relaunched exec plugin, a new
 * agent): the handle's `driverState` (`ExecDriverState`) is checked field by field, the pid is
 * checked to be the same process (its start time, field 22 of /proc/<pid>/stat, is part of the
 * handle: a pid reused by a stranger is never adopted), and the task's cgroup is opened again.
 *
 * A re-attached process is not this process's child, so its exit is seen by polling /proc: once
 * the pid is gone, a zombie, or another process. A zombie still shows its wait status (field 52 of
 * /proc/<pid>/stat, Linux ≥ 3.5), so the exit code is read there when the poll catches it before
 * its parent reaps it; otherwise the exit is reported with `exitCodeUnknown` (see contract.ts).
 */
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { constants } from 'node:os';
import { basename } from 'node:path';
import type { ExecDriverState, TaskHandle, TaskSpec } from '../contract.js';
import { RecoverableError, TaskNotFoundError } from '../errors.js';
import { openCgroupV1 } from './cgroup-v1.js';
import { openCgroupV2 } from './cgroup-v2.js';
import { cgroupName, type TaskCgroup, V1_CONTROLLERS, type V1Controller } from './cgroups.js';

/** What /proc says about a pid now. */
export interface ProcessIdentity {
  /** The state letter (R, S, Z, …). */
  state: string;
  /** Clock ticks after boot. */
  startTime: number;
  /** A zombie's wait status (waitpid's form); undefined for a live process. */
  waitStatus: number | undefined;
}

/** Fields of /proc/<pid>/stat counted from the one after the command's `)`: state is 0. */
const STATE = 0;
const START_TIME = 19;
const EXIT_CODE = 49;

/** The pid's state, start time and (for a zombie) wait status; undefined when there is no such pid. */
export function processIdentity(pid: number, procRoot = '/proc'): ProcessIdentity | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const fields = text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
  const state = fields[STATE] ?? '?';
  const exitCode = fields[EXIT_CODE];
  return {
    state,
    startTime: Number(fields[START_TIME]),
    waitStatus: state === 'Z' && exitCode !== undefined ? Number(exitCode) : undefined,
  };
}

/** The start time of `pid` now (for a new task's handle); undefined when it is already gone. */
export function startTimeOf(pid: number): number | undefined {
  return processIdentity(pid)?.startTime;
}

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, number]) => [number, name]),
);

/** A waitpid status as exit code or signal name (WIFEXITED / WTERMSIG). */
export function decodeWaitStatus(status: number): { exitCode: number | null; signal: string | null } {
  const termSignal = status & 0x7f;
  if (termSignal === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  return { exitCode: null, signal: SIGNAL_NAMES.get(termSignal) ?? `SIG${termSignal}` };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The handle's `driverState` as `ExecDriverState`, or a final error naming the field and its value. */
export function execStateOf(spec: TaskSpec, handle: TaskHandle): ExecDriverState & { pid: number } {
  const bad = (field: string, value: unknown, want: string) =>
    new RecoverableError(
      `exec task ${spec.id}: cannot recover: handle ${field} is ${JSON.stringify(value)}, expected ${want}`,
      false,
    );
  if (handle.taskId !== spec.id) throw bad('taskId', handle.taskId, `"${spec.id}" (the spec's id)`);
  const { pid } = handle;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) throw bad('pid', pid, 'a pid > 1');
  const state = handle.driverState;
  if (!isPlainObject(state)) throw bad('driverState', state, 'the exec driver state of the task');
  const { startTime, stdoutPath, stderrPath, cgroup } = state;
  if (typeof startTime !== 'number' || !Number.isInteger(startTime) || startTime < 0)
    throw bad('driverState.startTime', startTime, 'clock ticks after boot (an integer ≥ 0)');
  if (typeof stdoutPath !== 'string' || stdoutPath === '')
    throw bad('driverState.stdoutPath', stdoutPath, 'a path');
  if (typeof stderrPath !== 'string' || stderrPath === '')
    throw bad('driverState.stderrPath', stderrPath, 'a path');
  const result: ExecDriverState & { pid: number } = { pid, startTime, stdoutPath, stderrPath };
  if (cgroup === undefined || cgroup === null) return result;
  if (!isPlainObject(cgroup)) throw bad('driverState.cgroup', cgroup, 'a cgroup description');
  if (cgroup.version === 'v2') {
    if (typeof cgroup.dir !== 'string' || !cgroup.dir.startsWith('/'))
      throw bad('driverState.cgroup.dir', cgroup.dir, 'an absolute path');
    result.cgroup = { version: 'v2', dir: cgroup.dir };
    return result;
  }
  if (cgroup.version !== 'v1') throw bad('driverState.cgroup.version', cgroup.version, '"v1" or "v2"');
  const dirs = cgroup.dirs;
  if (!isPlainObject(dirs) || Object.keys(dirs).length === 0)
    throw bad('driverState.cgroup.dirs', dirs, 'a directory per controller');
  for (const [controller, dir] of Object.entries(dirs)) {
    if (!(V1_CONTROLLERS as readonly string[]).includes(controller))
      throw bad(`driverState.cgroup.dirs.${controller}`, dir, `one of ${V1_CONTROLLERS.join(', ')}`);
    if (typeof dir !== 'string' || !dir.startsWith('/'))
      throw bad(`driverState.cgroup.dirs.${controller}`, dir, 'an absolute path');
  }
  result.cgroup = { version: 'v1', dirs: dirs as Record<string, string> };
  return result;
}

/** A task cgroup as `ExecDriverState.cgroup`. */
export function cgroupStateOf(cgroup: TaskCgroup): NonNullable<ExecDriverState['cgroup']> {
  const { location } = cgroup;
  if (location.version === 'v2') return { version: 'v2', dir: location.dir };
  const dirs: Record<string, string> = {};
  for (const [controller, dir] of Object.entries(location.dirs)) if (dir) dirs[controller] = dir;
  return { version: 'v1', dirs };
}

/**
 * Reports the exit of a process that is not our child, polling /proc every `pollMs` (the first
 * check at once: it may have exited before it was re-attached). Returns the stop function.
 */
export function watchRecoveredExit(
  pid: number,
  startTime: number,
  pollMs: number,
  onExit: (status: { exitCode: number | null; signal: string | null; exitCodeUnknown?: boolean }) => void,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const identity = processIdentity(pid);
    const ours = identity !== undefined && identity.startTime === startTime;
    if (ours && identity.state !== 'Z' && identity.state !== 'X') return;
    stop();
    if (ours && identity.waitStatus !== undefined) onExit(decodeWaitStatus(identity.waitStatus));
    else onExit({ exitCode: null, signal: null, exitCodeUnknown: true });
  };
  const first = setImmediate(check);
  timer = setInterval(check, pollMs);
  const stop = () => {
    clearImmediate(first);
    clearInterval(timer);
    timer = undefined;
  };
  return stop;
}

/**
 * Checks the handle's process is the task's (alive or a zombie, same start time), then opens its
 * cgroup. Throws `TaskNotFoundError` saying why when it is not: gone, or its pid reused.
 */
export function checkRecoverable(
  spec: TaskSpec,
  state: ExecDriverState & { pid: number },
): { cgroup: TaskCgroup | undefined; identity: ProcessIdentity } {
  const identity = processIdentity(state.pid);
  if (!identity) {
    throw new TaskNotFoundError(spec.id, {
      why: `its process ${state.pid} is gone (it exited while no driver watched it)`,
    });
  }
  if (identity.startTime !== state.startTime) {
    throw new TaskNotFoundError(spec.id, {
      why:
        `pid ${state.pid} is another process now (started at tick ${identity.startTime}, the task ` +
        `at ${state.startTime}): the pid was reused, so it is not adopted`,
    });
  }
  if (!state.cgroup) return { cgroup: undefined, identity };
  // The pid and its start time name the task's process for certain; its cgroup must still be there.
  const dirs = state.cgroup.version === 'v2' ? [state.cgroup.dir] : Object.values(state.cgroup.dirs);
  const missing = dirs.find((dir) => !existsSync(dir));
  if (missing !== undefined) {
    throw new RecoverableError(
      `exec task ${spec.id}: cannot recover: its cgroup ${missing} is gone while its process ${state.pid} runs`,
      false,
    );
  }
  let cgroup: TaskCgroup;
  try {
    cgroup =
      state.cgroup.version === 'v2'
        ? openCgroupV2(state.cgroup.dir)
        : openCgroupV1(state.cgroup.dirs as Partial<Record<V1Controller, string>>);
  } catch (error) {
    throw new RecoverableError(
      `exec task ${spec.id}: cannot open its cgroup again: ${(error as Error).message}`,
      false,
      { cause: error },
    );
  }
  return { cgroup, identity };
}

/**
 * The cgroup of a task whose pid is another process now: removed only if it is empty (what is in it
 * may be the stranger's, if it was moved there). Only a directory named as this task's cgroup is
 * touched, whatever the handle says, so a damaged state can never point this at another cgroup. (A
 * task whose process is gone has what is left of it killed: leftovers.ts.)
 */
export function removeLostCgroup(spec: TaskSpec, state: ExecDriverState): void {
  if (!state.cgroup) return;
  const dirs = state.cgroup.version === 'v2' ? [state.cgroup.dir] : Object.values(state.cgroup.dirs);
  for (const dir of dirs) {
    if (basename(dir) !== cgroupName(spec.id)) continue;
    try {
      rmdirSync(dir);
    } catch {
      // not empty (or gone): left alone
    }
  }
}
