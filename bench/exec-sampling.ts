/**
 * exec-sampling: N real idle processes (`sleep 600`) supervised by task runners on the exec driver at
 * 1 s, against the cheapest hand-written reader of the same /proc files (held fds, re-read at offset
 * 0, one timer per process). Every process is killed at the end, on error too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TaskRunner } from '../src/task-runner/create-task-runner.js';
import { importBuilt } from './built.js';
import { type BenchOptions, type BenchResult, fmt, type Row } from './report.js';

/** The taskpulse side runs the built library (dist/), as users do: see bench/built.ts for why not tsx. */
async function loadBuilt() {
  const [exec, bus, log, runner] = await Promise.all([
    importBuilt<typeof import('../src/drivers/exec/index.js')>('src/drivers/exec/index.ts'),
    importBuilt<typeof import('../src/runtime/bus.js')>('src/runtime/bus.ts'),
    importBuilt<typeof import('../src/runtime/logger.js')>('src/runtime/logger.ts'),
    importBuilt<typeof import('../src/task-runner/create-task-runner.js')>(
      'src/task-runner/create-task-runner.ts',
    ),
  ]);
  return {
    createExecDriver: exec.createExecDriver,
    createBus: bus.createBus,
    silentLogger: log.silentLogger,
    createTaskRunner: runner.createTaskRunner,
  };
}

const INTERVAL_MS = 1000;

/** Every pid this benchmark started, killed on the way out whatever happens. */
const spawned = new Set<number>();
const killAll = () => {
  for (const pid of spawned) {
    try {
      process.kill(-pid, 'SIGKILL'); // the exec driver's tasks lead their own process group
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  spawned.clear();
};
process.once('exit', killAll);

interface Figures {
  cpuPercent: number;
  samples: number;
  microsPerSample: number;
  startMs: number;
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function window(windowMs: number, samplesNow: () => number) {
  const samplesAt = samplesNow();
  const cpuAt = process.cpuUsage();
  const wallAt = performance.now();
  await sleep(windowMs);
  const cpu = process.cpuUsage(cpuAt);
  const wall = performance.now() - wallAt;
  const samples = samplesNow() - samplesAt;
  const cpuMicros = cpu.user + cpu.system;
  return { cpuPercent: (cpuMicros / 1000 / wall) * 100, samples, microsPerSample: cpuMicros / samples };
}

/** taskpulse: task runners on the exec driver, /proc process-tree mode. */
async function supervised(count: number, windowMs: number): Promise<Figures> {
  const { createExecDriver, createBus, silentLogger, createTaskRunner } = await loadBuilt();
  const logDir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-exec-'));
  const driver = createExecDriver({ logDir, cgroups: false });
  const bus = createBus();
  const logger = silentLogger();
  let samples = 0;
  const seen = new Set<string>();
  bus.on('task:stats', (event) => {
    samples++;
    seen.add(event.taskId);
  });
  const runners: TaskRunner[] = [];
  try {
    const startAt = performance.now();
    for (let i = 0; i < count; i++) {
      const task = { id: `exec-${i}`, name: `sleep-${i}`, config: { command: 'sleep', args: ['600'] } };
      const runner = createTaskRunner({ task, driver, bus, logger, statsIntervalMs: INTERVAL_MS });
      runners.push(runner);
      runner.start();
    }
    await waitFor(() => seen.size === count, 120_000, `first samples of ${count} exec tasks`);
    const startMs = performance.now() - startAt;
    await sleep(INTERVAL_MS); // past the start-up burst
    return { ...(await window(windowMs, () => samples)), startMs };
  } finally {
    // Known to the last-resort kill until their runners have stopped them.
    const pids = runners.map((_, i) => driver.describeTask(`exec-${i}`)?.pid ?? 0).filter((pid) => pid > 0);
    for (const pid of pids) spawned.add(pid);
    await Promise.all(runners.map((runner) => runner.kill()));
    for (const pid of pids) spawned.delete(pid);
    rmSync(logDir, { recursive: true, force: true });
  }
}

/** The held /proc files of one process: what the exec driver reads for a one-process task. */
class HeldProc {
  private readonly fds: number[];
  constructor(pid: number) {
    this.fds = [`/proc/${pid}/stat`, `/proc/${pid}/status`, `/proc/${pid}/task/${pid}/children`].map((path) =>
      openSync(path, 'r'),
    );
  }
  /** utime + stime (ticks), RSS (pages), VmSwap (kB) and the children list: the same figures. */
  read(buffer: Buffer): number {
    const [stat, status, children] = this.fds as [number, number, number];
    let length = readSync(stat, buffer, 0, buffer.length, 0);
    const text = buffer.toString('latin1', 0, length);
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const cpu = Number(fields[11]) + Number(fields[12]);
    const rss = Number(fields[21]);
    length = readSync(status, buffer, 0, buffer.length, 0);
    const statusText = buffer.toString('latin1', 0, length);
    const swap = Number.parseInt(statusText.slice(statusText.indexOf('VmSwap:') + 7), 10);
    length = readSync(children, buffer, 0, buffer.length, 0);
    return cpu + rss + (swap || 0) + length;
  }
  close() {
    for (const fd of this.fds) closeSync(fd);
  }
}

/** Baseline: the same processes spawned by hand, each read on its own 1 s timer. */
async function handWritten(count: number, windowMs: number): Promise<Figures> {
  const children: ChildProcess[] = [];
  const readers: HeldProc[] = [];
  const timers: NodeJS.Timeout[] = [];
  const buffer = Buffer.allocUnsafe(4096);
  let samples = 0;
  let sink = 0;
  try {
    const startAt = performance.now();
    for (let i = 0; i < count; i++) {
      const child = spawn('sleep', ['600'], { stdio: 'ignore', detached: true });
      children.push(child);
      if (child.pid) spawned.add(child.pid);
    }
    for (const [index, child] of children.entries()) {
      if (!child.pid) throw new Error('spawn failed');
      const reader = new HeldProc(child.pid);
      readers.push(reader);
      const tick = () => {
        sink += reader.read(buffer);
        samples++;
        timers[index] = setTimeout(tick, INTERVAL_MS);
      };
      tick();
    }
    const startMs = performance.now() - startAt;
    await sleep(INTERVAL_MS);
    const figures = await window(windowMs, () => samples);
    if (sink < 0) console.log(sink); // keeps the parsing from being optimised away
    return { ...figures, startMs };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const reader of readers) reader.close();
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    for (const child of children) if (child.pid) spawned.delete(child.pid);
  }
}

export async function execSampling({ smoke }: BenchOptions): Promise<BenchResult> {
  if (process.platform !== 'linux') throw new Error('exec-sampling reads /proc: Linux only');
  const count = Number(process.env.BENCH_EXEC_COUNT ?? (smoke ? 50 : 1_000));
  const windowMs = Number(process.env.BENCH_EXEC_WINDOW_MS ?? (smoke ? 2_000 : 20_000));
  try {
    const base = await handWritten(count, windowMs);
    const tp = await supervised(count, windowMs);
    const ratio = tp.microsPerSample / base.microsPerSample;
    const rows: Row[] = [
      {
        metric: `N=${fmt.int(count)}: CPU % of one core, taskpulse / baseline`,
        value: `${fmt.pct(tp.cpuPercent)} / ${fmt.pct(base.cpuPercent)} = ${fmt.ratio(tp.cpuPercent / base.cpuPercent)}`,
        target: '≤ 1.3× baseline',
        met: tp.cpuPercent / base.cpuPercent <= 1.3,
      },
      {
        metric: `N=${fmt.int(count)}: µs of CPU per sample, taskpulse / baseline`,
        value: `${tp.microsPerSample.toFixed(1)} / ${base.microsPerSample.toFixed(1)} = ${fmt.ratio(ratio)}`,
        target: '≤ 1.3× baseline',
        met: ratio <= 1.3,
      },
      {
        metric: 'samples in the window, taskpulse / baseline',
        value: `${fmt.int(tp.samples)} / ${fmt.int(base.samples)}`,
        target: `≈ ${fmt.int((count * windowMs) / 1000)}`,
      },
      {
        metric: 'time to start all and get first samples, taskpulse / baseline',
        value: `${fmt.ms(tp.startMs)} / ${fmt.ms(base.startMs)}`,
      },
    ];
    return {
      name: 'exec-sampling',
      title: `exec-sampling: ${fmt.int(count)} idle processes (sleep 600), 1 s interval, ${windowMs / 1000} s window`,
      rows,
      notes: [
        'taskpulse (the built library, dist/): createTaskRunner per process on createExecDriver({ cgroups: false }), i.e. the /proc process-tree mode (held fds to stat, status and task/<pid>/children), samples published on a bus.',
        'Baseline: the same files held open per process and re-read with readSync at offset 0 on one 1 s timer per process; parses utime, stime, RSS and VmSwap.',
        'CPU = process.cpuUsage over the window (after start-up and one interval); µs per sample = that CPU time / samples delivered in the window.',
      ],
    };
  } finally {
    killAll();
  }
}
