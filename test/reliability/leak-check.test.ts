/**
 * The leak check itself: it passes a clean scenario and fails, naming the leak, for each kind of
 * thing a scenario can leave behind.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { createMockDriver, createTaskRunner } from '../../src/index.js';
import { childProcesses, startLeakCheck } from '../support/leak-check.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('leak check', () => {
  it('passes a scenario that cleaned up (runner done, fake timers drained)', async () => {
    vi.useFakeTimers();
    const check = startLeakCheck();
    const runner = createTaskRunner({
      task: { id: 'a/t', name: 't', config: {} },
      driver: createMockDriver({ defaults: { runForMs: 1500 } }),
      jobType: 'batch',
    });
    runner.start();
    await vi.advanceTimersByTimeAsync(2000);
    await runner.done;
    await check.verify({ actors: [runner.actor] });
  });

  it('names pending fake timers', async () => {
    vi.useFakeTimers();
    const check = startLeakCheck();
    setTimeout(() => {}, 1000);
    await expect(check.verify({ settleMs: 0 })).rejects.toThrow('1 fake timer(s) pending');
    vi.clearAllTimers();
  });

  it('names a real timer and a listening server', async () => {
    const check = startLeakCheck();
    const timer = setTimeout(() => {}, 60_000);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const error = await check.verify({ settleMs: 50 }).catch((e: unknown) => e);
    clearTimeout(timer);
    await new Promise((resolve) => server.close(resolve));
    expect(String(error)).toContain('timer of 60000 ms still open');
    expect(String(error)).toContain('TCP server still open');
  });

  it('names a child process left running, and kills it', async () => {
    const check = startLeakCheck();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const error = await check.verify({ settleMs: 50 }).catch((e: unknown) => e);
    expect(String(error)).toMatch(new RegExp(`child process ${child.pid} \\(sleep, state [A-Z]\\)`));
    await exited;
    expect(childProcesses().map((c) => c.pid)).not.toContain(child.pid);
  });

  it('names an actor still running, child actors included', async () => {
    const check = startLeakCheck();
    const child = createMachine({ id: 'child', initial: 'on', states: { on: {} } });
    const parent = createActor(
      createMachine({ id: 'parent', initial: 'on', states: { on: { invoke: { id: 'kid', src: child } } } }),
      { id: 'parent' },
    );
    parent.start();
    await expect(check.verify({ actors: [parent], settleMs: 0 })).rejects.toThrow(
      /actor parent is still active[\s\S]*actor parent › kid is still active/,
    );
    parent.stop();
    await startLeakCheck().verify({ actors: [parent] });
  });
});
