/**
 * End to end: the real task runner and stats hook over the exec driver. Samples of a real process
 * reach `latestResourceUsage()`; the task's own exit ends the stats hook quietly (no warn/error line).
 */
import { afterEach, expect, it } from 'vitest';
import { createTaskRunner } from '../../src/task-runner/create-task-runner.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';
import { isRoot, node, spec, testDriver, waitFor } from './helpers.js';

const leaks = useLeakCheck();
let setup: ReturnType<typeof testDriver> | undefined;
// Registered after the leak check, so the driver is cleaned up before the check looks.
afterEach(() => setup?.cleanup());

it('start → samples flow to latestResourceUsage() → exit → stats hook terminal, no warn or error logs', async () => {
  const logs = captureLogs();
  const driver = testDriver({ logger: logs.logger });
  setup = driver;
  const task = spec(node('const end = Date.now() + 900; while (Date.now() < end) {}'));
  const runner = createTaskRunner({
    task,
    driver: driver.driver,
    logger: logs.logger,
    statsIntervalMs: 100,
    jobType: 'batch',
  });
  leaks.track(runner.actor);
  runner.start();
  const live = await waitFor('a sample with CPU from the real process', () => {
    const latest = runner.latestResourceUsage();
    return latest && latest.sample.resourceUsage.cpu!.percent > 0 ? latest : undefined;
  });
  expect(live.exited).toBe(false);
  expect(Object.keys(live.sample.pids ?? {}).length).toBeGreaterThanOrEqual(1);

  const output = await runner.done;
  expect(output).toMatchObject({ state: 'dead', failed: false, lastExit: { exitCode: 0, signal: null } });
  const hook = await runner.statsHook.settled();
  expect(hook?.reason).toBe('exited');
  expect(runner.statsHook.current?.state).toBe('terminal');
  expect(runner.latestResourceUsage()?.exited).toBe(true);
  // The driver destroyed the task: nothing is left to describe.
  expect(driver.driver.describeTask(task.id)).toBeUndefined();
  const loud = logs.lines.filter((line) => line.level >= 40);
  expect(loud).toEqual([]);
});

it.skipIf(!isRoot)(
  "an exec task OOM killed in its cgroup ends with Nomad's Terminated event, OOM Killed (needs root)",
  async () => {
    const driver = testDriver();
    setup = driver;
    const task = {
      ...spec(node('globalThis.b = Buffer.alloc(96 * 2 ** 20, 1)')),
      resources: { memoryMb: 32 },
    };
    const runner = createTaskRunner({
      task,
      driver: driver.driver,
      statsIntervalMs: 100,
      jobType: 'batch',
      restartPolicy: { attempts: 0, mode: 'fail' },
    });
    leaks.track(runner.actor);
    runner.start();
    const output = await runner.done;
    expect(output.lastExit).toMatchObject({ signal: 'SIGKILL', oomKilled: true });
    const terminated = runner.events.find((event) => event.type === 'Terminated');
    expect(terminated).toMatchObject({ oomKilled: true, signal: 'SIGKILL' });
    expect(terminated?.message).toContain('OOM Killed');
    // The final sample is the kernel's, taken after the kill.
    expect(runner.latestResourceUsage()?.sample.resourceUsage.cpu?.measured).toContain('Total Time');
  },
);
