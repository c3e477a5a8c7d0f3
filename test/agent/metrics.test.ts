import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetricsSink, NOMAD_METRICS_PREFIX } from '../../src/agent/metrics.js';
import { createBus } from '../../src/runtime/bus.js';
import { useLeakCheck } from '../support/leak-check.js';
import { sampleAt } from '../support/sample.js';

// Nothing a scenario makes (timers, files, sockets) may outlive it.
useLeakCheck();

const labels = { job: 'j', task_group: 'g', alloc_id: 'a1', task: 't', namespace: 'default' };
const ref = { taskId: 'a1/t', name: 't', allocId: 'a1' };

describe('metrics sink', () => {
  it("sets only the gauges in the event's metrics map, with Nomad's names under the prefix", async () => {
    const bus = createBus();
    const sink = createMetricsSink({ bus, labelsFor: () => labels, prefix: NOMAD_METRICS_PREFIX });
    bus.emit('task:stats', {
      ...ref,
      sample: sampleAt(1),
      metrics: new Map([
        ['memory.rss', 4096],
        ['cpu.total_percent', 0],
      ]),
    });
    const text = await sink.prometheus();
    expect(text).toContain(
      'nomad_client_allocs_memory_rss{job="j",task_group="g",alloc_id="a1",task="t",namespace="default"} 4096',
    );
    expect(text).toContain('nomad_client_allocs_cpu_total_percent{');
    expect(text).not.toContain('memory_swap');
    expect((await sink.json()).Gauges.map((gauge) => gauge.Name).sort()).toEqual([
      'nomad.client.allocs.cpu.total_percent',
      'nomad.client.allocs.memory.rss',
    ]);
    // Its own registry: the global one is untouched.
    expect(await register.metrics()).not.toContain('nomad_client_allocs');
    sink.close();
  });

  it('drops a series when its field stops being published, and all of a task on stats-ended', async () => {
    const bus = createBus();
    const sink = createMetricsSink({ bus, labelsFor: () => labels });
    bus.emit('task:stats', {
      ...ref,
      sample: sampleAt(1),
      metrics: new Map([
        ['memory.rss', 1],
        ['memory.cache', 2],
      ]),
    });
    bus.emit('task:stats', { ...ref, sample: sampleAt(2), metrics: new Map([['memory.rss', 3]]) });
    let text = await sink.prometheus();
    expect(text).toMatch(/taskpulse_task_memory_rss\{[^}]+\} 3/);
    expect(text).not.toMatch(/taskpulse_task_memory_cache\{/);
    bus.emit('task:stats-ended', ref);
    text = await sink.prometheus();
    expect(text).not.toMatch(/\{job=/);
    sink.close();
  });

  it('ignores tasks it has no labels for and refuses an invalid prefix', async () => {
    const bus = createBus();
    const sink = createMetricsSink({ bus, labelsFor: () => undefined });
    bus.emit('task:stats', { ...ref, sample: sampleAt(1), metrics: new Map([['memory.rss', 1]]) });
    const samples = (await sink.prometheus())
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'));
    expect(samples).toEqual([]);
    expect(() => createMetricsSink({ bus, labelsFor: () => labels, prefix: 'bad-prefix' })).toThrow(
      /invalid metrics prefix/,
    );
    sink.close();
  });
});
