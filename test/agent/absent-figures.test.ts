/**
 * Spec rule 14 in every consumer: a figure the driver did not measure (the first sample's CPU
 * percent, a swap figure no source has) is absent in Nomad's JSON, the metrics and the CLI's JSON
 * lines, never a 0. A measured 0 is shown.
 */
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { nomadResourceUsage } from '../../src/agent/nomad-json.js';
import { startLiveView } from '../../src/cli/live-view.js';
import {
  emptyCpuStats,
  emptyMemoryStats,
  publishableMetrics,
  type ResourceUsage,
} from '../../src/drivers/usage.js';
import { createBus } from '../../src/runtime/bus.js';

/** A stream's first sample: CPU times but no percents; RSS measured, nothing else. */
const firstSample = (): ResourceUsage => ({
  cpu: { ...emptyCpuStats(), totalTime: 5_000_000, measured: ['Total Time'] },
  memory: { ...emptyMemoryStats(), rss: 4096, swap: 0, measured: ['RSS', 'Swap'] },
});

it("Nomad's JSON leaves unmeasured fields out and keeps measured zeros", () => {
  const json = nomadResourceUsage(firstSample());
  expect(json.CpuStats).toEqual({ Measured: ['Total Time'], TotalTime: 5_000_000 });
  expect(json.MemoryStats).toEqual({ Measured: ['RSS', 'Swap'], RSS: 4096, Swap: 0 });
});

it('metrics publish no percent gauge for a first sample', () => {
  const metrics = publishableMetrics(firstSample());
  expect([...metrics.keys()].sort()).toEqual(['cpu.total_time', 'memory.rss', 'memory.swap']);
});

it('JSON lines print null for an unmeasured percent, numbers for what was measured', () => {
  const bus = createBus();
  const out = new PassThrough();
  const agent = { bus, allocations: [] } as unknown as Agent;
  const view = startLiveView(agent, 'json', out as unknown as NodeJS.WriteStream);
  bus.emit('task:stats', {
    taskId: 'a/t',
    name: 't',
    sample: { timestamp: 1, resourceUsage: firstSample() },
    metrics: new Map(),
  });
  view.finish({ tasks: [], failed: false, reason: 'stopped', timedOut: false });
  const [stats] = String(out.read())
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(stats).toMatchObject({
    type: 'stats',
    cpu_percent: null,
    cpu_user_percent: null,
    cpu_system_percent: null,
    cpu_seconds: 0.005,
    rss_bytes: 4096,
  });
});
