/**
 * `npm run soak:crash -- [--cycles 100] [--tasks 12] [--seed S]`: the agent's crash soak (issue 13,
 * docs/recovery.md). The real CLI agent runs exec tasks (real processes, sampled every 100 ms) on
 * one data dir and is SIGKILLed at a random moment, `--cycles` times: while it starts, while it
 * recovers, while tasks restart; between agents a random task is sometimes killed too. Each new
 * agent takes up the last one's tasks. Figures, printed as one JSON line at the end:
 *
 * - tasks lost: a task with no process once the final agent has settled;
 * - duplicates started: a moment (checked after every crash and at the end) where a task had two
 *   processes;
 * - orphans left: task processes or cgroups after the final agent's SIGTERM;
 * - sample gap: per recovered task, the time from its `Recovered` event to its first sample, in
 *   stats intervals (max and p99), and from the crash to that sample (wall time, agent start included);
 * - leftovers killed: tasks whose unwatched processes (an agent killed between the fork and the
 *   state write of the handle) a new agent killed before it started them: how often that window was hit.
 *
 * Exits 1 when tasks are lost, started twice or left behind, the gap exceeds two intervals, or the
 * last agent does not end cleanly (exit 0) on SIGTERM. Leaves nothing behind, even then.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '100' },
    tasks: { type: 'string', default: '12' },
    seed: { type: 'string' },
  },
});
const CYCLES = Number(values.cycles);
const TASKS = Number(values.tasks);
const INTERVAL_MS = 100;
let seed = values.seed ? Number(values.seed) : Date.now() % 2 ** 31;
const SEED = seed;
/** mulberry32: a seeded generator, so a failing run can be replayed with `--seed`. */
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'taskpulse.js');
const work = mkdtempSync(join(tmpdir(), 'taskpulse-soak-crash-'));
const dataDir = join(work, 'data');
const cgroupParent = `taskpulse-soak-crash-${process.pid}`;
/** Each task sleeps with an argument of its own: its processes are found by it in /proc. */
const marker = (index: number) => String(900_000 + index);
const job = join(work, 'soak.yaml');
writeFileSync(
  job,
  `name: soak
type: service
groups:
  - name: g
    restart: { attempts: 100000, interval: 1h, delay: 50ms, mode: delay }
    tasks:
${Array.from(
  { length: TASKS },
  (_, i) => `      - name: t${i}
        driver: exec
        stats_interval: ${INTERVAL_MS}ms
        kill_timeout: 1s
        config: { command: sleep, args: ['${marker(i)}'] }`,
).join('\n')}
`,
);

/** Pids of live (not zombie) processes whose argv is `sleep <marker>`, by task index. */
function taskProcesses(): number[][] {
  const found: number[][] = Array.from({ length: TASKS }, () => []);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (!/(^|\/)sleep$/.test(argv[0] ?? '')) continue;
      const index = Number(argv[1]) - 900_000;
      if (!(index >= 0 && index < TASKS)) continue;
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${name}/stat`, 'utf8'))) continue;
      found[index]!.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function cgroupsLeft(): string[] {
  const left: string[] = [];
  for (const hierarchy of ['', 'cpu', 'memory', 'pids', 'cpuacct']) {
    try {
      for (const entry of readdirSync(join('/sys/fs/cgroup', hierarchy, cgroupParent)))
        if (statSync(join('/sys/fs/cgroup', hierarchy, cgroupParent, entry)).isDirectory())
          left.push(join(hierarchy, cgroupParent, entry));
    } catch {
      // no such parent: nothing left there
    }
  }
  return left;
}

/** The exec driver's warn line when it kills what a crashed agent left of a task (a window hit). */
const LEFTOVERS_KILLED = 'killed processes of the task that no driver watched';

interface Agent {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number>;
}
function startAgent(): Agent {
  const child = spawn(
    process.execPath,
    [bin, '--log-format', 'json', 'agent', '--no-http', '--output', 'json', '--data-dir', dataDir, job],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TASKPULSE_CGROUP_PARENT: cgroupParent, TASKPULSE_LOG_LEVEL: 'warn' },
    },
  );
  const lines: Record<string, unknown>[] = [];
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString();
    const parts = text.split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) {
      try {
        lines.push({ ...(JSON.parse(part) as Record<string, unknown>), seenAt: Date.now() });
      } catch {
        // a partial line of a killed agent
      }
    }
  });
  let restErr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const parts = (restErr + chunk.toString()).split('\n');
    restErr = parts.pop() ?? '';
    for (const part of parts) if (part.includes(LEFTOVERS_KILLED)) figures.leftoversKilled += 1;
  });
  const exited = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  current = child;
  return { child, lines, exited };
}

/** The agent running now, if any (killed by the clean-up when the soak itself fails or is stopped). */
let current: ChildProcess | undefined;

const killQuietly = (pid: number | undefined) => {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
};

/**
 * Whatever happened (a failure, an exception, SIGINT or SIGTERM from CI's timeout), nothing of the
 * soak stays: its agent, its task processes, its cgroups (their members killed first), its files.
 */
function cleanUp(): void {
  killQuietly(current?.exitCode === null && current.signalCode === null ? current.pid : undefined);
  for (const pid of taskProcesses().flat()) killQuietly(pid);
  for (const hierarchy of ['', 'cpu', 'memory', 'pids', 'cpuacct']) {
    const parent = join('/sys/fs/cgroup', hierarchy, cgroupParent);
    let entries: string[];
    try {
      entries = readdirSync(parent).filter((entry) => statSync(join(parent, entry)).isDirectory());
    } catch {
      continue; // no such parent
    }
    for (const entry of entries) {
      const dir = join(parent, entry);
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'latin1').split('\n'))
            if (pid) killQuietly(Number(pid));
          rmdirSync(dir);
          break;
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // exiting members: busy a moment
        }
      }
    }
    try {
      rmdirSync(parent);
    } catch {
      // not ours to remove, or still busy (reported above as left behind)
    }
  }
  rmSync(work, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`soak: ${signal}: cleaning up`);
    cleanUp();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`soak: timed out waiting for ${what}`);
    await sleep(20);
  }
}

const figures = {
  seed: SEED,
  cycles: 0,
  tasks: TASKS,
  intervalMs: INTERVAL_MS,
  tasksKilledInGaps: 0,
  recoveredTasks: 0,
  failedRecoveries: 0,
  /** Tasks whose unwatched processes an agent killed before starting them (the windows, hit). */
  leftoversKilled: 0,
  duplicatesStarted: 0,
  tasksLost: 0,
  orphansLeft: 0,
  lastAgentExit: 0,
  sampleGapIntervals: { max: 0, p99: 0 },
  crashToSampleMs: { max: 0, p50: 0 },
};
const gaps: number[] = [];
const crashGaps: number[] = [];
let lastCrashAt = 0;

/** Gaps of the recovered tasks in this agent's output: Recovered → first sample of the task. */
function collectGaps(agent: Agent): void {
  const recovered = new Map<string, number>();
  const sampled = new Set<string>();
  for (const line of agent.lines) {
    const task = String(line.task);
    if (
      line.type === 'event' &&
      line.event === 'Recovered' &&
      String(line.message).startsWith('Task recovered')
    )
      recovered.set(task, Date.parse(String(line.time)));
    if (line.type === 'event' && String(line.message).startsWith('Task could not be recovered'))
      figures.failedRecoveries += 1;
    if (line.type === 'stats' && recovered.has(task) && !sampled.has(task)) {
      sampled.add(task);
      gaps.push((Date.parse(String(line.time)) - recovered.get(task)!) / INTERVAL_MS);
      if (lastCrashAt) crashGaps.push((line.seenAt as number) - lastCrashAt);
    }
  }
  figures.recoveredTasks += recovered.size;
}

/** Every pid beyond a task's first, seen at any check: one duplicate is counted once however long it lives. */
const duplicates = new Set<number>();
function checkDuplicates(where: string): void {
  for (const [index, pids] of taskProcesses().entries()) {
    if (pids.length > 1) {
      for (const pid of [...pids].sort((a, b) => a - b).slice(1)) duplicates.add(pid);
      figures.duplicatesStarted = duplicates.size;
      console.error(`soak: task t${index} has ${pids.length} processes ${where}: ${pids.join(', ')}`);
    }
  }
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};

try {
  const started = Date.now();
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const agent = startAgent();
    // A random moment: while it starts (node's own start takes ~0.2 s), recovers, or runs.
    await sleep(50 + random() * 1500);
    agent.child.kill('SIGKILL');
    await agent.exited;
    collectGaps(agent); // against the crash before it
    figures.cycles += 1;
    lastCrashAt = Date.now();
    checkDuplicates(`after crash ${cycle + 1}`);
    // Now and then a task dies while no agent watches (its restart policy must bring it back).
    if (random() < 0.3) {
      const pids = taskProcesses().flat();
      const victim = pids[Math.floor(random() * pids.length)];
      if (victim) {
        try {
          process.kill(victim, 'SIGKILL');
          figures.tasksKilledInGaps += 1;
        } catch {
          // gone already
        }
      }
    }
  }

  // The last agent: settles, every task is running once and sampled, then SIGTERM.
  const last = startAgent();
  await until(
    'every task running once and sampled',
    () => {
      const sampled = new Set(last.lines.filter((l) => l.type === 'stats').map((l) => String(l.task)));
      return sampled.size === TASKS && taskProcesses().every((pids) => pids.length === 1);
    },
    30_000,
  ).catch((error: Error) => console.error(error.message));
  collectGaps(last);
  checkDuplicates('once the last agent settled');
  figures.tasksLost = taskProcesses().filter((pids) => pids.length === 0).length;
  last.child.kill('SIGTERM');
  const code = await last.exited;
  figures.lastAgentExit = code;
  if (code !== 0) console.error(`soak: the last agent exited ${code}`);
  await sleep(500); // zombies of adopted tasks are reaped by init, not by the agent
  const orphans = taskProcesses().flat();
  const cgroups = cgroupsLeft();
  figures.orphansLeft = orphans.length + cgroups.length;
  if (orphans.length || cgroups.length)
    console.error(`soak: left behind: ${[...orphans, ...cgroups].join(', ')}`);
  figures.sampleGapIntervals = { max: Math.max(0, ...gaps), p99: quantile(gaps, 0.99) };
  figures.crashToSampleMs = { max: Math.max(0, ...crashGaps), p50: quantile(crashGaps, 0.5) };
  const seconds = Math.round((Date.now() - started) / 1000);
  console.log(JSON.stringify({ ...figures, seconds }));
  const ok =
    figures.tasksLost === 0 &&
    figures.duplicatesStarted === 0 &&
    figures.orphansLeft === 0 &&
    figures.lastAgentExit === 0 &&
    figures.sampleGapIntervals.max <= 2;
  process.exitCode = ok ? 0 : 1;
} finally {
  cleanUp();
}
