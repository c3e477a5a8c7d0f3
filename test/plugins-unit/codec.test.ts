/**
 * The protocol's messages carry what the contract carries: every TaskSpec, TaskHandle, ExitResult
 * and TaskResourceUsage field survives protobuf encoding and decoding (through the same
 * @grpc/proto-loader serializers the RPC uses), measured lists and per-pid figures included.
 */
import { describe, expect, it } from 'vitest';
import type { ExitResult, TaskHandle, TaskSpec } from '../../src/drivers/contract.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import {
  exitFromProto,
  exitToProto,
  handleFromProto,
  handleToProto,
  specFromProto,
  specToProto,
  usageFromProto,
  usageToProto,
} from '../../src/plugins/codec.js';
import { protocol } from '../../src/plugins/protocol.js';

type Method = {
  requestSerialize(v: unknown): Buffer;
  requestDeserialize(b: Buffer): Record<string, unknown>;
  responseSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): Record<string, unknown>;
};
const method = (name: string) => (protocol().driver.service as unknown as Record<string, Method>)[name]!;
const viaRequest = (name: string, value: unknown) =>
  method(name).requestDeserialize(method(name).requestSerialize(value));
const viaResponse = (name: string, value: unknown) =>
  method(name).responseDeserialize(method(name).responseSerialize(value));

describe('protocol codec', () => {
  it('TaskSpec: every field, a nested config, and the unset ones staying unset', () => {
    const spec: TaskSpec = {
      id: 'alloc-1/web',
      name: 'web',
      allocId: 'alloc-1',
      config: {
        command: 'node',
        args: ['-e', 'x'],
        nested: { n: 1.5, flag: true, none: null },
        list: [1, 'a', [2]],
      },
      env: { A: '1', B: 'two' },
      resources: { cpuMhz: 500, memoryMb: 256 },
      logs: { maxFiles: 3, maxFileSizeBytes: 10 * 2 ** 20 },
    };
    expect(
      specFromProto(viaRequest('StartTask', { task: specToProto(spec) }).task as Record<string, unknown>),
    ).toEqual(spec);
    const bare: TaskSpec = { id: 't', name: 't', config: {} };
    expect(
      specFromProto(viaRequest('StartTask', { task: specToProto(bare) }).task as Record<string, unknown>),
    ).toEqual(bare);
  });

  it('TaskHandle and ExitResult, a signal exit (no code) and a failed wait included', () => {
    const handle: TaskHandle = { taskId: 't', startedAt: 1_796_000_000_123, pid: 4242, driverId: 'abc' };
    expect(
      handleFromProto(
        viaResponse('StartTask', { handle: handleToProto(handle) }).handle as Record<string, unknown>,
      ),
    ).toEqual(handle);
    // The exec driver's re-attach facts travel as they were (a Struct, nested objects and lists).
    const execHandle: TaskHandle = {
      taskId: 'a/web',
      startedAt: 1_796_000_000_123,
      pid: 4242,
      driverState: {
        startTime: 123_456_789,
        cgroup: { version: 'v1', dirs: { cpu: '/sys/fs/cgroup/cpu/taskpulse/a_web' } },
        stdoutPath: '/logs/a/web.stdout',
        stderrPath: '/logs/a/web.stderr',
      },
    };
    expect(
      handleFromProto(
        viaResponse('StartTask', { handle: handleToProto(execHandle) }).handle as Record<string, unknown>,
      ),
    ).toEqual(execHandle);
    const exits: ExitResult[] = [
      { exitCode: 0, signal: null, oomKilled: false },
      { exitCode: null, signal: null, oomKilled: false, exitCodeUnknown: true },
      { exitCode: 137, signal: null, oomKilled: true },
      { exitCode: null, signal: 'SIGKILL', oomKilled: false },
    ];
    for (const exit of exits) {
      expect(
        exitFromProto(
          viaResponse('WaitTask', { result: exitToProto(exit) }).result as Record<string, unknown>,
        ),
      ).toEqual(exit);
    }
    const failed = exitFromProto(
      viaResponse('WaitTask', {
        result: exitToProto({ exitCode: null, signal: null, oomKilled: false, error: new Error('lost') }),
      }).result as Record<string, unknown>,
    );
    expect(failed.error?.message).toBe('lost');
  });

  it('TaskResourceUsage: the cumulative CPU times cross when measured, and stay absent when not', () => {
    const cpu = {
      systemMode: 0,
      userMode: 0,
      percent: 0,
      totalTicks: 0,
      throttledPeriods: 0,
      throttledTime: 0,
      totalTime: 1_500_000_000,
      userTime: 1_200_000_000,
      systemTime: 300_000_000,
      measured: ['Total Time', 'User Time', 'System Time'] as const,
    };
    const sample: TaskResourceUsage = {
      timestamp: 5,
      resourceUsage: { cpu: { ...cpu, measured: [...cpu.measured] } },
    };
    const crossed = usageFromProto(
      viaResponse('TaskStats', { stats: usageToProto(sample) }).stats as Record<string, unknown>,
    );
    expect(crossed).toEqual(sample);
    const { totalTime: _t, userTime: _u, systemTime: _s, ...untimed } = cpu;
    const without: TaskResourceUsage = { timestamp: 6, resourceUsage: { cpu: { ...untimed, measured: [] } } };
    const decoded = usageFromProto(
      viaResponse('TaskStats', { stats: usageToProto(without) }).stats as Record<string, unknown>,
    );
    expect(Object.keys(decoded.resourceUsage.cpu!)).not.toContain('totalTime');
  });

  it('TaskResourceUsage: totals, measured lists in order, per-pid figures, a missing cpu section', () => {
    const sample: TaskResourceUsage = {
      timestamp: 1_796_000_000_456,
      resourceUsage: {
        memory: {
          rss: 3 * 2 ** 30,
          cache: 1,
          swap: 0,
          mappedFile: 2,
          usage: 5,
          maxUsage: 6,
          kernelUsage: 7,
          kernelMaxUsage: 8,
          measured: ['RSS', 'Swap', 'Usage'],
        },
        cpu: {
          systemMode: 1.25,
          userMode: 2.5,
          percent: 3.75,
          totalTicks: 99.5,
          throttledPeriods: 4,
          throttledTime: 123_456_789,
          measured: ['Percent', 'Throttled Time'],
        },
      },
      pids: {
        '17': {
          memory: {
            rss: 1,
            cache: 0,
            swap: 0,
            mappedFile: 0,
            usage: 0,
            maxUsage: 0,
            kernelUsage: 0,
            kernelMaxUsage: 0,
            measured: ['RSS'],
          },
        },
      },
    };
    expect(
      usageFromProto(
        viaResponse('TaskStats', { stats: usageToProto(sample) }).stats as Record<string, unknown>,
      ),
    ).toEqual(sample);
    const memoryOnly: TaskResourceUsage = {
      timestamp: 1,
      resourceUsage: { memory: sample.resourceUsage.memory! },
    };
    expect(
      usageFromProto(
        viaResponse('TaskStats', { stats: usageToProto(memoryOnly) }).stats as Record<string, unknown>,
      ),
    ).toEqual(memoryOnly);
  });
});
