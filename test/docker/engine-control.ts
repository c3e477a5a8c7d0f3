/**
 * Faults of a real Docker Engine for test/docker/engine-faults.real.test.ts: dockerd stopped and
 * continued, killed with SIGKILL, started again (with or without live-restore) through
 * `../shared/tools/docker-engine.sh up`. Only for the engine that script runs (its pid file and
 * socket under TP_DOCKER_DIR): never a system's own dockerd. Needs root, as the script does.
 *
 * Also a timeline recorder: what the fault did, what the runner and the stats hook did, and when.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TaskBus } from '../../src/runtime/bus.js';
import type { LogLine } from './engine.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ENGINE_SH =
  process.env.TASKPULSE_DOCKER_ENGINE_SH || join(REPO, '../shared/tools/docker-engine.sh');
const DIR = (process.env.TP_DOCKER_DIR || '/tmp/tp-docker').replace(/\/$/, '');
const run = promisify(execFile);

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The engine's dockerd; throws when the script's engine is not running. */
export function dockerdPid(): number {
  const pid = readPid(join(DIR, 'docker.pid'));
  if (pid === undefined || !alive(pid))
    throw new Error(`no dockerd of ${ENGINE_SH} runs (pid file in ${DIR})`);
  return pid;
}

export const pauseDockerd = () => process.kill(dockerdPid(), 'SIGSTOP');
export const resumeDockerd = () => process.kill(dockerdPid(), 'SIGCONT');

/**
 * SIGKILL to dockerd, then waits until it and the containerd it ran are gone: a dockerd started
 * while the old containerd is still exiting takes it for alive and fails to start.
 */
export async function killDockerd(): Promise<void> {
  const pid = dockerdPid();
  const containerd = readPid(join(DIR, 'docker-exec/containerd/containerd.pid'));
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 15_000;
  while (alive(pid) || (containerd !== undefined && alive(containerd))) {
    if (Date.now() > deadline) throw new Error('dockerd or its containerd still alive 15 s after SIGKILL');
    await new Promise((resolveSleep) => setTimeout(resolveSleep, 50));
  }
}

/** `docker-engine.sh up`: starts dockerd again on the same data (containers kept as it sees fit). */
export async function startDockerd({ liveRestore }: { liveRestore: boolean }): Promise<void> {
  await run(ENGINE_SH, ['up'], {
    env: { ...process.env, TP_DOCKER_LIVE_RESTORE: liveRestore ? '1' : '0', TP_DOCKER_FRESH: '0' },
    timeout: 120_000,
  });
}

/** True when the script's dockerd runs and is not stopped. */
export function dockerdRunning(): boolean {
  try {
    const pid = dockerdPid();
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'T';
  } catch {
    return false;
  }
}

export interface TimelineEntry {
  atMs: number;
  who: 'fault' | 'runner' | 'hook' | 'driver' | 'test';
  what: string;
}

/**
 * Records, from `t0`: the faults (`mark`), the runner's states and task events and the samples the
 * hook published (from the bus), and the driver's, runner's and hook's log lines at info or above
 * plus the driver's debug lines about waits.
 */
export function recordTimeline(bus: TaskBus) {
  const t0 = Date.now();
  const entries: TimelineEntry[] = [];
  const add = (who: TimelineEntry['who'], what: string, at = Date.now()) =>
    entries.push({ atMs: at - t0, who, what });
  bus.on('task:state', ({ state }) => add('runner', `state ${state}`));
  bus.on('task:event', ({ event }) =>
    add('runner', `event ${event.type}${event.failsTask ? ' (fails task)' : ''}: ${event.message}`),
  );
  bus.on('task:stats', ({ sample }) => {
    const percent = sample.resourceUsage.cpu?.percent;
    add('hook', `sample${percent === undefined ? '' : ` cpu ${percent.toFixed(1)} %`}`);
  });
  bus.on('task:stats-ended', () => add('hook', 'stats ended (task exited)'));
  return {
    t0,
    entries,
    mark: (what: string) => add('fault', what),
    note: (what: string) => add('test', what),
    /** Adds the captured log lines worth reading (at info or above, or about waits and stops). */
    addLogs(lines: readonly LogLine[]) {
      for (const line of lines) {
        const interesting = line.level >= 30 || /wait|stop|stats stream|retry/.test(line.msg);
        if (!interesting || typeof line.time !== 'number') continue;
        const who = line.driver ? 'driver' : line.hook ? 'hook' : 'runner';
        const level = ({ 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' } as Record<number, string>)[
          line.level
        ];
        const detail = ['error', 'delayMs', 'attempt', 'exitCode', 'driver_id', 'container']
          .filter((key) => line[key] !== undefined)
          .map((key) => `${key}=${String(line[key])}`)
          .join(' ');
        entries.push({
          atMs: line.time - t0,
          who,
          what: `${level} "${line.msg}"${detail ? ` ${detail}` : ''}`,
        });
      }
    },
    /** The timeline as text, runs of samples folded into one line. */
    text(): string {
      const sorted = [...entries].sort((a, b) => a.atMs - b.atMs);
      const out: string[] = [];
      for (let i = 0; i < sorted.length; i++) {
        const entry = sorted[i]!;
        if (entry.who === 'hook' && entry.what.startsWith('sample')) {
          let j = i;
          while (sorted[j + 1]?.who === 'hook' && sorted[j + 1]!.what.startsWith('sample')) j++;
          const last = sorted[j]!;
          out.push(
            j === i
              ? `${fmt(entry.atMs)}  hook    ${entry.what}`
              : `${fmt(entry.atMs)}  hook    ${j - i + 1} samples until ${fmt(last.atMs)} (first: ${entry.what}, last: ${last.what})`,
          );
          i = j;
          continue;
        }
        out.push(`${fmt(entry.atMs)}  ${entry.who.padEnd(6)}  ${entry.what}`);
      }
      return out.join('\n');
    },
  };
}

const fmt = (ms: number) => `+${(ms / 1000).toFixed(2).padStart(6)} s`;
