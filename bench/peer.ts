/**
 * peer: the taskpulse agent against pm2 7, the process manager users would pick instead, both
 * supervising N idle processes (`sleep 600`) sampled once a second, run side by side over the same
 * window; pidusage polling pm2's pids is the second reference. CPU is every process of a side (utime
 * + stime from /proc over the window): the agent alone; pm2's daemon (God) plus a client asking it
 * for the process list once a second, which is what `pm2 monit` does (the daemon reads each pid's
 * usage with pidusage for it); the pidusage poller. pm2 is installed by the bench, once, into
 * node_modules/.cache (exact version, from the npm registry), so it is never a dependency here.
 * Every process started here is killed on the way out (pm2 kill, then any pid left, SIGKILL).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BenchOptions, type BenchResult, fmt, type Row } from './report.js';

export const PM2_VERSION = '7.0.4';
const ROOT = resolve(import.meta.dirname, '..');
const PM2_DIR = join(ROOT, 'node_modules/.cache/taskpulse-bench', `pm2-${PM2_VERSION}`);
const PM2_BIN = join(PM2_DIR, 'node_modules/pm2/bin/pm2');
/** `BENCH_CLI=/other/checkout/bin/taskpulse.js` measures another build's agent (before/after). */
const CLI = process.env.BENCH_CLI ?? join(ROOT, 'bin/taskpulse.js');
const TICKS_PER_SECOND = 100;

/** Installs pm2 once (a few seconds from the npm cache); later runs find it there. */
export function ensurePm2(): string {
  if (!existsSync(PM2_BIN)) {
    mkdirSync(PM2_DIR, { recursive: true });
    writeFileSync(join(PM2_DIR, 'package.json'), '{"private":true}\n');
    execFileSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', PM2_DIR, `pm2@${PM2_VERSION}`],
      { stdio: 'ignore' },
    );
  }
  return PM2_BIN;
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN; // gone: the figure is unusable, and says so
  }
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** Every descendant of `pid` (through each thread's `children`), for the last-resort kill. */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${next}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      let text = '';
      try {
        text = readFileSync(`/proc/${next}/task/${tid}/children`, 'latin1');
      } catch {
        continue;
      }
      for (const child of text
        .split(' ')
        .map(Number)
        .filter((value) => value > 0)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

const started = new Set<number>();
function killLeft(): void {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  started.clear();
}
process.once('exit', killLeft);

async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
  });
}

/** A node script of a few lines (the pm2 client, the pidusage poller), resolving pm2's copy. */
function nodeScript(code: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, ['-e', code], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env },
  });
  if (child.pid) started.add(child.pid);
  return child;
}

interface Pm2Side {
  daemonPid: number;
  client: ChildProcess;
  pids: number[];
  startMs: number;
  stop(): Promise<void>;
}

async function startPm2(count: number, dir: string): Promise<Pm2Side> {
  const env = { ...process.env, PM2_HOME: join(dir, 'pm2-home') };
  const pm2 = (...args: string[]) =>
    execFileSync(process.execPath, [PM2_BIN, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ecosystem = join(dir, 'ecosystem.json');
  const apps = Array.from({ length: count }, (_, i) => ({
    name: `sleep-${i}`,
    script: 'sleep',
    args: '600',
    interpreter: 'none',
  }));
  writeFileSync(ecosystem, JSON.stringify({ apps }));
  const startAt = performance.now();
  try {
    pm2('start', ecosystem);
  } catch (error) {
    pm2('kill');
    throw error;
  }
  const daemonPid = Number(readFileSync(join(env.PM2_HOME, 'pm2.pid'), 'latin1'));
  started.add(daemonPid);
  const pids = await waitFor(
    () => {
      const list = JSON.parse(pm2('jlist')) as { pid: number; pm2_env: { status: string } }[];
      const online = list.filter((app) => app.pm2_env.status === 'online' && app.pid > 0);
      return online.length === count ? online.map((app) => app.pid) : undefined;
    },
    300_000,
    `${count} pm2 processes online`,
  ).catch((error: unknown) => {
    pm2('kill');
    throw error;
  });
  const startMs = performance.now() - startAt;
  for (const pid of pids) started.add(pid);
  // What `pm2 monit` does: ask the daemon for the process list, usage included, once a second.
  const client = nodeScript(
    `const pm2 = require(${JSON.stringify(join(PM2_DIR, 'node_modules/pm2'))});
     pm2.connect((error) => {
       if (error) throw error;
       const tick = () => pm2.list((e, list) => { if (e) throw e; globalThis.apps = list.length; setTimeout(tick, 1000); });
       tick();
     });`,
    { PM2_HOME: env.PM2_HOME },
  );
  return {
    daemonPid,
    client,
    pids,
    startMs,
    async stop() {
      client.kill('SIGKILL');
      await exited(client);
      pm2('kill');
    },
  };
}

interface AgentSide {
  agent: ChildProcess;
  startMs: number;
  stop(): Promise<void>;
}

async function startAgent(count: number, dir: string): Promise<AgentSide> {
  const jobFile = join(dir, 'peer.job.yaml');
  writeFileSync(
    jobFile,
    [
      'name: peer',
      'type: service',
      'groups:',
      '  - name: idle',
      `    count: ${count}`,
      '    tasks:',
      '      - name: sleep',
      '        driver: exec',
      '        stats_interval: 1s',
      '        config: { command: sleep, args: ["600"] }',
      '',
    ].join('\n'),
  );
  const startAt = performance.now();
  const agent = spawn(
    process.execPath,
    [CLI, 'agent', '--port', '0', '--no-ui', '--output', 'none', '--log-level', 'warn', jobFile],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  if (agent.pid) started.add(agent.pid);
  let stderr = '';
  agent.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const stop = async () => {
    // Its tasks too, should the agent not stop them (the last-resort kill takes what is left).
    for (const pid of descendants(agent.pid as number)) started.add(pid);
    agent.kill('SIGTERM');
    await exited(agent);
    if (agent.exitCode !== 0) throw new Error(`the agent exited ${agent.exitCode}:\n${stderr.slice(-2000)}`);
  };
  try {
    const base = await waitFor(() => /HTTP API: (\S+)/.exec(stderr)?.[1], 60_000, 'the agent HTTP API');
    // Started = every task has a published sample: N series of the RSS gauge (one request a poll;
    // an agent busy starting may drop one, which is retried).
    await waitFor(
      async () => {
        const text = await fetch(`${base}/v1/metrics?format=prometheus`)
          .then((response) => response.text())
          .catch(() => '');
        const series = text.split('\n').filter((line) => line.startsWith('taskpulse_task_memory_rss{'));
        return series.length === count ? true : undefined;
      },
      300_000,
      `first samples of ${count} exec tasks`,
    );
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return { agent, startMs: performance.now() - startAt, stop };
}

interface SideFigures {
  cpuPercent: number;
  rss: number;
}

interface Figures {
  taskpulse: SideFigures & { startMs: number };
  pm2: SideFigures & { startMs: number };
  pidusage: SideFigures;
}

async function runOnce(count: number, windowMs: number, settleMs: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-peer-'));
  let pm2: Pm2Side | undefined;
  let agent: AgentSide | undefined;
  let poller: ChildProcess | undefined;
  try {
    pm2 = await startPm2(count, dir);
    agent = await startAgent(count, dir);
    poller = nodeScript(
      `const pidusage = require(${JSON.stringify(join(PM2_DIR, 'node_modules/pidusage'))});
       const pids = ${JSON.stringify(pm2.pids)};
       const tick = () => pidusage(pids, (e, stats) => { if (e) throw e; globalThis.seen = stats; setTimeout(tick, 1000); });
       tick();`,
    );
    // Steady state only: the window opens well after the agent's start (its start-up garbage
    // collected, its code optimised, its first tree rescans done), every side on its 1 s beat.
    await sleep(settleMs);
    const sides = {
      taskpulse: [agent.agent.pid as number],
      pm2: [pm2.daemonPid, pm2.client.pid as number],
      pidusage: [poller.pid as number],
    };
    const ticksOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const before = Object.fromEntries(Object.entries(sides).map(([name, pids]) => [name, ticksOf(pids)]));
    const wallAt = performance.now();
    await sleep(windowMs);
    const wall = (performance.now() - wallAt) / 1000;
    const figures = (name: keyof typeof sides): SideFigures => {
      const ticks = ticksOf(sides[name]) - (before[name] as number);
      if (!Number.isFinite(ticks)) throw new Error(`a ${name} process ended during the window`);
      return {
        cpuPercent: (ticks / TICKS_PER_SECOND / wall) * 100,
        rss: sides[name].reduce((sum, pid) => sum + rssBytes(pid), 0),
      };
    };
    return {
      taskpulse: { ...figures('taskpulse'), startMs: agent.startMs },
      pm2: { ...figures('pm2'), startMs: pm2.startMs },
      pidusage: figures('pidusage'),
    };
  } finally {
    poller?.kill('SIGKILL');
    if (poller) await exited(poller);
    await agent?.stop().catch((error: unknown) => console.error(error));
    await pm2?.stop().catch((error: unknown) => console.error(error));
    killLeft();
    rmSync(dir, { recursive: true, force: true });
  }
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' / ');
}

export async function peer({ smoke }: BenchOptions): Promise<BenchResult> {
  if (process.platform !== 'linux') throw new Error('peer reads /proc: Linux only');
  ensurePm2();
  const sizes = process.env.BENCH_PEER_SIZES?.split(',').map(Number) ?? (smoke ? [20] : [200, 1_000]);
  const windowMs = Number(process.env.BENCH_PEER_WINDOW_MS ?? (smoke ? 2_000 : 30_000));
  const settleMs = Number(process.env.BENCH_PEER_SETTLE_MS ?? (smoke ? 1_000 : 20_000));
  const rows: Row[] = [];
  const loads: string[] = [];
  for (const count of sizes) {
    loads.push(`N=${fmt.int(count)}: ${loadAverage()}`);
    const run = await runOnce(count, windowMs, settleMs);
    const n = `N=${fmt.int(count)}`;
    const vsPm2 = run.taskpulse.cpuPercent / run.pm2.cpuPercent;
    rows.push(
      {
        metric: `${n}: CPU % of one core, taskpulse agent / pm2 (daemon + 1 Hz list)`,
        // A smoke window can be too short for pm2 to spend one 10 ms tick.
        value: `${fmt.pct(run.taskpulse.cpuPercent)} / ${fmt.pct(run.pm2.cpuPercent)} = ${Number.isFinite(vsPm2) ? fmt.ratio(vsPm2) : 'n/a'}`,
        target: '≤ 0.5× pm2',
        met: vsPm2 <= 0.5,
      },
      {
        metric: `${n}: CPU % of one core, pidusage polling pm2's pids at 1 s`,
        value: `${fmt.pct(run.pidusage.cpuPercent)} (taskpulse ${fmt.ratio(run.taskpulse.cpuPercent / run.pidusage.cpuPercent)})`,
      },
      {
        metric: `${n}: RSS, taskpulse agent / pm2 (daemon + client) / pidusage poller`,
        value: `${fmt.mib(run.taskpulse.rss)} / ${fmt.mib(run.pm2.rss)} / ${fmt.mib(run.pidusage.rss)}`,
      },
      {
        metric: `${n}: time to start all (first sample of each) / pm2 all online`,
        value: `${fmt.ms(run.taskpulse.startMs)} / ${fmt.ms(run.pm2.startMs)}`,
      },
    );
  }
  return {
    name: 'peer',
    title: `peer: the taskpulse agent beside pm2 ${PM2_VERSION}, idle processes (sleep 600), 1 s sampling, ${windowMs / 1000} s window`,
    rows,
    notes: [
      `taskpulse: \`npx taskpulse agent --output none --no-ui\` with one group of N exec tasks (count: N), stats_interval 1s; as root it puts each task in a cgroup (v1 on this machine), so a sample reads the cgroup's files and /proc per process. ${process.env.BENCH_CLI ? `CLI: ${CLI}.` : ''}`.trim(),
      `pm2 ${PM2_VERSION} (installed by the bench into node_modules/.cache): \`pm2 start\` of an ecosystem file of N apps (\`sleep 600\`, interpreter none), plus a client calling \`pm2.list()\` every second as \`pm2 monit\` does; CPU = the daemon's + the client's.`,
      `pidusage (the copy pm2 ships) called once a second with all of pm2's N pids, in a process of its own.`,
      `The three run at the same time over the same window, opened ${settleMs / 1000} s after the agent's last first sample (pm2 was all online before the agent started), so the start's tail is past; CPU = utime + stime from /proc/<pid>/stat (10 ms ticks) / wall time; RSS = VmRSS at the end of the window.`,
      `Load average (1 / 5 / 15 min) at each start: ${loads.join('; ')} (2 cores shared with other work).`,
    ],
  };
}
