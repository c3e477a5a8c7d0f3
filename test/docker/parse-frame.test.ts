/**
 * Parsing the recorded Docker Engine frames (test/fixtures/docker-engine/, copied from ../shared/fixtures/docker-engine/) into samples.
 * Recordings: cpu-half.lifecycle.ndjson, cpu-half.stats-stream.ndjson, mem-grow.lifecycle.ndjson,
 * oneshot-running.json, oneshot-oneshot.json, oneshot-stopped.json.
 */
import { describe, expect, it } from 'vitest';
import {
  type DockerStatsFrame,
  type ParseFrameOptions,
  parseFrame,
} from '../../src/drivers/docker/parse-frame.js';
import { findSampleProblem } from '../../src/drivers/validate-sample.js';
import { readFixture, readFrames } from '../support/fake-docker-engine.js';

const options: ParseFrameOptions = { fallbackCores: 2 };
const frames = (file: string) => readFrames(file) as DockerStatsFrame[];
const line = (file: string, n: number) => frames(file)[n - 1] as DockerStatsFrame;
const parse = (frame: DockerStatsFrame, opts = options) => parseFrame(frame, opts, () => 1);

describe('every recorded frame file', () => {
  it.each([
    ['cpu-half.lifecycle.ndjson', 9, 4],
    ['cpu-half.stats-stream.ndjson', 8, 0],
    ['mem-grow.lifecycle.ndjson', 14, 3],
  ])('%s → %i valid samples, %i zeroed frames skipped', (file, real, zeroed) => {
    const samples = frames(file).map((frame) => parse(frame));
    expect(samples.filter((sample) => sample === undefined)).toHaveLength(zeroed);
    const valid = samples.filter((sample) => sample !== undefined);
    expect(valid).toHaveLength(real);
    let previous: number | undefined;
    for (const sample of valid) {
      expect(findSampleProblem(sample, previous)).toBeUndefined();
      previous = sample.timestamp;
    }
    // Zeroed frames come last: nothing real after the first one.
    expect(samples.indexOf(undefined)).toBe(zeroed === 0 ? -1 : real);
  });

  it('one-shot answers: filled precpu gives a percent, empty precpu none, stopped is zeroed', () => {
    const running = parse(JSON.parse(readFixture('oneshot-running.json')));
    expect(running?.resourceUsage.cpu?.measured).toContain('Percent');
    expect(running?.resourceUsage.cpu?.percent).toBeGreaterThan(45);
    const oneShot = parse(JSON.parse(readFixture('oneshot-oneshot.json')));
    expect(oneShot?.resourceUsage.cpu?.measured).not.toContain('Percent');
    expect(parse(JSON.parse(readFixture('oneshot-stopped.json')))).toBeUndefined();
  });
});

describe('CPU percent (fixtures README table, cpu-half.lifecycle.ndjson)', () => {
  it.each([
    [2, 50.32],
    [3, 50.56],
    [4, 50.07],
    [5, 50.53],
    [6, 49.66],
    [7, 49.3],
    [8, 49.2],
    [9, 50.29],
  ])('line %i → %f %% within 0.5 points', (n, expected) => {
    const cpu = parse(line('cpu-half.lifecycle.ndjson', n))?.resourceUsage.cpu;
    expect(cpu?.measured).toContain('Percent');
    expect(Math.abs((cpu?.percent ?? -1) - expected)).toBeLessThanOrEqual(0.5);
  });

  it.each([
    [12, 1.97],
    [13, 0.23],
    [14, 4.23],
  ])('mem-grow line %i → %f %%', (n, expected) => {
    const cpu = parse(line('mem-grow.lifecycle.ndjson', n))?.resourceUsage.cpu;
    expect(Math.abs((cpu?.percent ?? -1) - expected)).toBeLessThanOrEqual(0.5);
  });

  it('line 1 (empty precpu_stats): no CPU percent claimed, times and throttling still read', () => {
    const frame = line('cpu-half.lifecycle.ndjson', 1);
    const cpu = parse(frame)?.resourceUsage.cpu;
    expect(cpu?.percent).toBe(0);
    expect(cpu?.measured).toEqual([
      'Throttled Periods',
      'Throttled Time',
      'Total Time',
      'User Time',
      'System Time',
    ]);
    expect(cpu?.totalTime).toBe(frame.cpu_stats?.cpu_usage?.total_usage);
    expect(cpu?.throttledPeriods).toBe(50);
  });

  it('line 10 (zeroed, precpu = last real cpu_stats): skipped, never a negative delta', () => {
    expect(parse(line('cpu-half.lifecycle.ndjson', 10))).toBeUndefined();
  });

  it('user/system mode are percents of one core; throttling is cumulative', () => {
    const cpu = parse(line('cpu-half.lifecycle.ndjson', 2))?.resourceUsage.cpu;
    // Δuser 500,000,000 ns / Δsystem 2,000,000,000 ns × 2 CPUs × 100
    expect(cpu?.userMode).toBeCloseTo(50, 5);
    expect(cpu?.systemMode).toBe(0);
    expect(cpu?.throttledPeriods).toBe(60);
    expect(cpu?.throttledTime).toBe(2992825124);
    expect(cpu?.measured).toEqual([
      'System Mode',
      'User Mode',
      'Percent',
      'Throttled Periods',
      'Throttled Time',
      'Total Time',
      'User Time',
      'System Time',
    ]);
  });

  it('total ticks only when the host MHz is known', () => {
    const frame = line('cpu-half.lifecycle.ndjson', 2);
    expect(parse(frame)?.resourceUsage.cpu?.measured).not.toContain('Total Ticks');
    const cpu = parse(frame, { fallbackCores: 2, cpuTotalMhz: 4000 })?.resourceUsage.cpu;
    expect(cpu?.measured).toContain('Total Ticks');
    expect(cpu?.totalTicks).toBeCloseTo(((cpu?.percent ?? 0) / 100) * 2000, 5);
  });
});

describe('memory and measured lists', () => {
  it('cgroup v1 frame: what memory.stat had (no swap key on this host, so no Swap)', () => {
    const sample = parse(line('cpu-half.lifecycle.ndjson', 2));
    expect(sample?.timestamp).toBe(Date.parse('2026-11-29T05:11:16.966Z'));
    expect(sample?.resourceUsage.memory).toEqual({
      rss: 57344,
      cache: 0,
      swap: 0,
      mappedFile: 0,
      usage: 643072,
      maxUsage: 3555328,
      kernelUsage: 0,
      kernelMaxUsage: 0,
      measured: ['RSS', 'Cache', 'Mapped File', 'Usage', 'Max Usage'],
    });
  });

  it('mem-grow line 14: usage and max usage as recorded (the OOM shows nowhere in stats)', () => {
    const memory = parse(line('mem-grow.lifecycle.ndjson', 14))?.resourceUsage.memory;
    expect((memory?.usage ?? 0) / 2 ** 20).toBeCloseTo(32.8, 1);
    expect((memory?.maxUsage ?? 0) / 2 ** 20).toBeCloseTo(64.84, 1);
  });

  it('a v1 frame with swap accounting measures Swap', () => {
    const frame = structuredClone(line('cpu-half.lifecycle.ndjson', 2));
    frame.memory_stats = { ...frame.memory_stats, stats: { ...frame.memory_stats?.stats, swap: 4096 } };
    const memory = parse(frame)?.resourceUsage.memory;
    expect(memory?.swap).toBe(4096);
    expect(memory?.measured).toEqual(['RSS', 'Cache', 'Swap', 'Mapped File', 'Usage', 'Max Usage']);
  });

  it('a cgroup v2 frame (derived from line 2: v2 memory.stat keys, no max_usage, no percpu_usage)', () => {
    const frame = structuredClone(line('cpu-half.lifecycle.ndjson', 2));
    for (const cpu of [frame.cpu_stats, frame.precpu_stats]) delete cpu?.cpu_usage?.percpu_usage;
    frame.memory_stats = {
      usage: 643072,
      limit: 67108864,
      stats: {
        anon: 57344,
        file: 8192,
        file_mapped: 4096,
        kernel_stack: 16384,
        slab: 65536,
        sock: 0,
        shmem: 0,
        inactive_file: 8192,
        active_file: 0,
        pgfault: 1030,
      },
    };
    const sample = parse(frame);
    expect(sample?.resourceUsage.memory).toMatchObject({
      rss: 57344,
      cache: 8192,
      mappedFile: 4096,
      usage: 643072,
      maxUsage: 0,
      measured: ['RSS', 'Cache', 'Mapped File', 'Usage'],
    });
    // online_cpus still gives the core count without percpu_usage.
    expect(Math.abs((sample?.resourceUsage.cpu?.percent ?? 0) - 50.32)).toBeLessThan(0.5);
    expect(findSampleProblem(sample)).toBeUndefined();
  });

  it('an unlimited container (limits above 2^53) parses to the same valid sample', () => {
    const text = readFixture('cpu-half.lifecycle.ndjson').split('\n')[1] as string;
    const unlimited = text
      .replace('"hierarchical_memory_limit":67108864', '"hierarchical_memory_limit":9223372036854771712')
      .replace('"limit":67108864', '"limit":25276510208');
    expect(unlimited).not.toBe(text);
    const sample = parse(JSON.parse(unlimited));
    expect(findSampleProblem(sample)).toBeUndefined();
    expect(sample).toEqual(parse(JSON.parse(text)));
  });
});
