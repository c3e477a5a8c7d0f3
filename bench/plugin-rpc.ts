/**
 * plugin-rpc: what a stats sample costs over the driver-plugin RPC against in process. N mock-driver
 * tasks, one stats hook each at 1 s (the agent's path: hook → driver.taskStats → stream), first with
 * the driver in the agent's process, then with the same driver in a `taskpulse plugin mock` process
 * (createPluginDriver). CPU counted: the agent's (`process.cpuUsage`) plus, over RPC, the plugin's
 * (utime + stime from /proc/<pid>/stat). Extra per sample = (RPC total − in process) / samples.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TaskDriver } from '../src/drivers/contract.js';
import { createMockDriver } from '../src/drivers/mock.js';
import type { TaskResourceUsage } from '../src/drivers/usage.js';
import { usageFromProto, usageToProto } from '../src/plugins/codec.js';
import { createPluginDriver } from '../src/plugins/plugin-driver.js';
import { protocol } from '../src/plugins/protocol.js';
import { silentLogger } from '../src/runtime/logger.js';
import { createStatsHook, type StatsHook } from '../src/stats-hook/create-stats-hook.js';
import { type BenchOptions, type BenchResult, fmt } from './report.js';

const INTERVAL_MS = 1000;
const TARGET_EXTRA_MICROS = 60;
const CLI = resolve(import.meta.dirname, '../bin/taskpulse.js');
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (100 on Linux). */
const TICKS_PER_SECOND = 100;

function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
}

interface Figures {
  samples: number;
  agentMicros: number;
  pluginMicros: number;
}

async function measure(
  driver: TaskDriver,
  count: number,
  windowMs: number,
  pluginPid?: number,
): Promise<Figures> {
  let samples = 0;
  const hooks: StatsHook[] = [];
  const logger = silentLogger();
  try {
    for (let i = 0; i < count; i++) {
      const taskId = `bench-${i}`;
      await driver.startTask({ id: taskId, name: 'bench', config: {} });
      const hook = createStatsHook({
        taskId,
        intervalMs: INTERVAL_MS,
        logger,
        stats: { stats: (interval, signal) => driver.taskStats(taskId, interval, signal) },
        updater: { updateStats: () => void samples++ },
      });
      hooks.push(hook);
      hook.poststart();
    }
    // Past the start-up burst: every stream open and on its 1 s beat.
    await sleep(2 * INTERVAL_MS);
    const samplesAt = samples;
    const cpuAt = process.cpuUsage();
    const pluginAt = pluginPid ? processCpuMicros(pluginPid) : 0;
    await sleep(windowMs);
    const cpu = process.cpuUsage(cpuAt);
    return {
      samples: samples - samplesAt,
      agentMicros: cpu.user + cpu.system,
      pluginMicros: pluginPid ? processCpuMicros(pluginPid) - pluginAt : 0,
    };
  } finally {
    for (const hook of hooks) hook.exited();
    await Promise.all(hooks.map((hook) => hook.done));
    for (let i = 0; i < count; i++) await driver.destroyTask(`bench-${i}`, { force: true }).catch(() => {});
  }
}

/** The library's share: one sample through usageToProto, protobuf encode, decode, usageFromProto. */
function codecMicros(iterations: number): { micros: number; bytes: number } {
  const method = (
    protocol().driver.service as unknown as Record<
      string,
      {
        responseSerialize(value: unknown): Buffer;
        responseDeserialize(bytes: Buffer): Record<string, unknown>;
      }
    >
  ).TaskStats!;
  const sample = {
    timestamp: Date.now(),
    resourceUsage: {
      memory: {
        rss: 52428800,
        cache: 0,
        swap: 0,
        mappedFile: 0,
        usage: 52428800,
        maxUsage: 52428800,
        kernelUsage: 0,
        kernelMaxUsage: 0,
        measured: ['RSS', 'Usage', 'Max Usage'],
      },
      cpu: {
        systemMode: 2,
        userMode: 8,
        percent: 10,
        totalTicks: 0,
        throttledPeriods: 0,
        throttledTime: 0,
        measured: ['Percent', 'User Mode', 'System Mode'],
      },
    },
  } as TaskResourceUsage;
  let bytes = 0;
  const started = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const buffer = method.responseSerialize({ stats: usageToProto(sample) });
    bytes = buffer.length;
    usageFromProto(method.responseDeserialize(buffer).stats as Record<string, unknown>);
  }
  const cpu = process.cpuUsage(started);
  return { micros: (cpu.user + cpu.system) / iterations, bytes };
}

export async function pluginRpc({ smoke }: BenchOptions): Promise<BenchResult> {
  const count = smoke ? 50 : Number(process.env.BENCH_PLUGIN_COUNT ?? 1000);
  const windowMs = smoke ? 1500 : Number(process.env.BENCH_PLUGIN_WINDOW_MS ?? 20_000);

  const inProcess = await measure(createMockDriver(), count, windowMs);

  const logDir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-plugin-'));
  const plugin = await createPluginDriver({
    command: process.execPath,
    args: [CLI, 'plugin', 'mock'],
    name: 'mock',
    logDir,
    // Health checks are part of the plugin's cost: the defaults (every 2 s).
  });
  let rpc: Figures;
  try {
    rpc = await measure(plugin, count, windowMs, plugin.reattach?.pid);
  } finally {
    await plugin.stop();
    rmSync(logDir, { recursive: true, force: true });
  }

  const codec = codecMicros(smoke ? 2000 : 100_000);
  const perSample = (f: Figures) => (f.agentMicros + f.pluginMicros) / Math.max(f.samples, 1);
  const extra = perSample(rpc) - perSample(inProcess);
  return {
    name: 'plugin-rpc',
    title: `plugin-rpc: CPU per stats sample over the plugin RPC vs in process, ${fmt.int(count)} tasks at 1 s`,
    rows: [
      {
        metric: 'samples in the window, in process / over RPC',
        value: `${fmt.int(inProcess.samples)} / ${fmt.int(rpc.samples)}`,
      },
      { metric: 'in process: agent CPU per sample (µs)', value: perSample(inProcess).toFixed(1) },
      {
        metric: 'over RPC: agent + plugin CPU per sample (µs)',
        value: `${(rpc.agentMicros / Math.max(rpc.samples, 1)).toFixed(1)} + ${(rpc.pluginMicros / Math.max(rpc.samples, 1)).toFixed(1)}`,
      },
      {
        metric: 'extra CPU per sample over RPC (µs)',
        value: extra.toFixed(1),
        target: `≤ ${TARGET_EXTRA_MICROS}`,
        met: extra <= TARGET_EXTRA_MICROS,
      },
      {
        metric: `of which protobuf encode + decode of one sample, ${codec.bytes} bytes (µs)`,
        value: codec.micros.toFixed(1),
      },
      {
        metric: 'agent + plugin CPU over RPC, % of one core',
        value: (((rpc.agentMicros + rpc.pluginMicros) / 1000 / windowMs) * 100).toFixed(1),
      },
    ],
    notes: [
      `${fmt.int(windowMs / 1000)} s window after a 2 s warm-up; mock driver samples (no /proc reads), so the`,
      'difference is the RPC: protobuf encode/decode, HTTP/2 framing, the socket, two event loops;',
      'plugin CPU from /proc/<pid>/stat in 10 ms ticks. Samples and health checks at the defaults.',
    ],
  };
}
