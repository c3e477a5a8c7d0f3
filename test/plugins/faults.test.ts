/**
 * Faults with real plugin processes: kill -9 mid-stream, SIGSTOP/SIGCONT, a plugin that crashes on
 * start, one that prints garbage or nothing, a slow start; the stats hook's driver calls stay on its
 * schedule, tasks are re-attached through RecoverTask, and nothing is left after stop.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { PluginShutdownError } from '../../src/drivers/errors.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { hostEnv } from '../../src/plugins/handshake.js';
import { createPluginDriver, type PluginDriver } from '../../src/plugins/plugin-driver.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '../../src/plugins/protocol.js';
import { createStatsHook } from '../../src/stats-hook/create-stats-hook.js';
import { captureLogs, until } from '../docker/engine.js';
import { builtInPlugin, CLI, tempDir } from './targets.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // kill(pid, 0) succeeds on zombies too: look at the state.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function mockPlugin(options: { healthIntervalMs?: number; healthTimeoutMs?: number } = {}) {
  const logs = captureLogs();
  const dir = tempDir('plugin-logs');
  const driver = await createPluginDriver({
    ...builtInPlugin('mock'),
    env: { TASKPULSE_PLUGIN_LOG_LEVEL: 'debug' },
    logDir: dir.path,
    logger: logs.logger,
    ...options,
  });
  cleanups.push(async () => {
    const pid = driver.reattach?.pid;
    await driver.stop();
    if (pid) expect(alive(pid)).toBe(false);
    dir.remove();
  });
  return { driver, logs };
}

/** The plugin driver, counting the stats hook's calls. */
function hookOn(driver: PluginDriver, taskId: string, intervalMs: number) {
  const logs = captureLogs();
  const samples: TaskResourceUsage[] = [];
  let calls = 0;
  const hook = createStatsHook({
    taskId,
    intervalMs,
    logger: logs.logger,
    stats: {
      stats: (interval, signal) => {
        calls += 1;
        return driver.taskStats(taskId, interval, signal);
      },
    },
    updater: { updateStats: (sample) => void samples.push(sample) },
  });
  cleanups.push(async () => {
    hook.exited();
    await hook.done;
  });
  return { hook, samples, logs, calls: () => calls };
}

describe('plugin faults (real plugin processes)', () => {
  it('kill -9 mid-stream: the stream ends with PluginShutdownError, the hook backs off and re-opens against the relaunched plugin, the task is re-attached', async () => {
    const { driver, logs } = await mockPlugin();
    const before = driver.reattach!;
    await driver.startTask({ id: 'k/long', name: 'long', config: {} });
    let exit: unknown;
    const waiting = driver.waitTask('k/long').then((result) => {
      exit = result;
    });
    const { hook, samples, calls, logs: hookLogs } = hookOn(driver, 'k/long', 100);
    hook.poststart();
    await until(() => samples.length >= 2);

    process.kill(before.pid, 'SIGKILL');
    const countAtKill = samples.length;
    await until(() => driver.reattach !== undefined && driver.reattach.pid !== before.pid, 15_000);
    await until(() => samples.length >= countAtKill + 2, 15_000);

    // On the hook's schedule: the stream's end, then open errors backed off 1 s, 2 s… — no tight loop.
    expect(calls()).toBeLessThanOrEqual(6);
    // One warn for the stream that threw; PluginShutdownError opens are debug: no error line at all.
    expect(hookLogs.errors()).toEqual([]);
    expect(hookLogs.warnOrWorse().length).toBeLessThanOrEqual(1);
    expect(logs.lines.some((line) => line.msg === 'task re-attached after the plugin restarted')).toBe(true);
    // The wait in flight survived the relaunch: the task is stopped on the new plugin and reports it.
    expect(exit).toBeUndefined();
    await driver.stopTask('k/long', { timeoutMs: 1000 });
    await waiting;
    expect(exit).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    expect((exit as { error?: Error }).error).toBeUndefined();
    await driver.destroyTask('k/long');
    expect(alive(before.pid)).toBe(false);
    // The killed plugin's socket was removed by the host.
    expect(existsSync(dirname(before.address.replace(/^unix:/, '')))).toBe(false);
  }, 40_000);

  it('SIGSTOP: a hung plugin fails its health check, its streams end with PluginShutdownError, it is replaced; SIGCONT changes nothing', async () => {
    const { driver } = await mockPlugin({ healthIntervalMs: 200, healthTimeoutMs: 300 });
    const before = driver.reattach!;
    await driver.startTask({ id: 's/long', name: 'long', config: {} });
    const stream = await driver.taskStats('s/long', 100, new AbortController().signal);
    const reading = (async () => {
      for await (const _ of stream) {
        // keep reading
      }
    })();
    process.kill(before.pid, 'SIGSTOP');
    await expect(reading).rejects.toBeInstanceOf(PluginShutdownError);
    try {
      process.kill(before.pid, 'SIGCONT');
    } catch {
      // killed already
    }
    await until(() => driver.reattach !== undefined && driver.reattach.pid !== before.pid, 15_000);
    expect(alive(before.pid)).toBe(false);
    const again = await driver.taskStats('s/long', 100, new AbortController().signal);
    for await (const _ of again) break;
    await driver.destroyTask('s/long', { force: true });
  }, 40_000);

  it('a plugin that crashes on start: one launch, a clear error naming it, no relaunch', async () => {
    const dir = tempDir('plugin-logs');
    cleanups.push(() => dir.remove());
    const error = await createPluginDriver({
      command: process.execPath,
      args: ['-e', 'console.error("boom: no config"); process.exit(3)'],
      name: 'crashy',
      logDir: dir.path,
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /plugin "crashy".*exited with code 3 before its handshake.*boom: no config/,
    );
  });

  it('a garbled handshake line and a missing one are clear errors, and the process is killed', async () => {
    const dir = tempDir('plugin-logs');
    cleanups.push(() => dir.remove());
    const garbled = await createPluginDriver({
      command: process.execPath,
      args: ['-e', 'console.log("hello there"); setInterval(() => {}, 1000)'],
      name: 'garbled',
      logDir: dir.path,
    }).catch((e: unknown) => e as Error);
    expect((garbled as Error).message).toMatch(/plugin "garbled".*garbled handshake line "hello there"/);
    const silent = await createPluginDriver({
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      name: 'silent',
      logDir: dir.path,
      handshakeTimeoutMs: 500,
    }).catch((e: unknown) => e as Error);
    expect((silent as Error).message).toMatch(/plugin "silent".*no handshake within 500 ms/);
  });

  it('a slow start (1 s before the handshake) is waited for', async () => {
    const dir = tempDir('plugin-logs');
    const driver = await createPluginDriver({
      command: '/bin/sh',
      args: ['-c', `sleep 1; exec "${process.execPath}" "${CLI}" plugin mock`],
      name: 'slow',
      logDir: dir.path,
    });
    cleanups.push(async () => {
      await driver.stop();
      dir.remove();
    });
    expect(driver.name).toBe('mock');
    await driver.startTask({ id: 'slow/t', name: 't', config: { runForMs: 10, exitCode: 3 } });
    expect(await driver.waitTask('slow/t')).toMatchObject({ exitCode: 3 });
    await driver.destroyTask('slow/t');
  });

  it("re-logs the plugin's stderr through pino at the line's own level", async () => {
    const { logs } = await mockPlugin();
    await until(() =>
      logs.lines.some((line) => line.msg === 'plugin serving' && line.level === 20 && line.address),
    );
  });

  it('a host killed with SIGKILL leaves no plugin behind (its stdin closes, it shuts down)', async () => {
    const dir = tempDir('plugin-logs');
    cleanups.push(() => dir.remove());
    const host = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'fixtures/host.ts'), dir.path],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: host.stdout }).once('line', resolve),
    );
    const pid = Number(line);
    expect(alive(pid)).toBe(true);
    host.kill('SIGKILL');
    await until(() => !alive(pid), 10_000);
  }, 30_000);

  it('without the magic cookie the plugin says what it is and exits 1; with it, it exits when its host goes away', async () => {
    const bare = spawn(process.execPath, [CLI, 'plugin', 'mock'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    bare.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => bare.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/taskpulse driver plugin.*not meant to be run directly/);

    const child = spawn(process.execPath, [CLI, 'plugin', 'mock'], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, ...hostEnv(SUPPORTED_PROTOCOL_VERSIONS) },
    });
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: child.stdout }).once('line', resolve),
    );
    expect(line).toMatch(/^1\|1\|unix\|.+\|grpc\|$/);
    const socket = line.split('|')[3]!;
    child.stdin.end(); // the host is gone
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });
});
