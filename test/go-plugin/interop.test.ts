/**
 * Interop with HashiCorp's go-plugin (run by `npm run test:go-plugin`, which builds the binaries):
 * taskpulse hosting a Go driver plugin through the driver contract suite, and go-plugin's own Go
 * host launching `taskpulse plugin mock`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PluginShutdownError } from '../../src/drivers/errors.js';
import { createPluginDriver } from '../../src/plugins/plugin-driver.js';
import { captureLogs } from '../docker/engine.js';
import { describeDriverContract } from '../plugins/driver-contract.js';
import { CLI, tempDir } from '../plugins/targets.js';

const pluginBin = process.env.GO_PLUGIN_BIN;
const hostBin = process.env.GO_HOST_BIN;
if (!pluginBin || !hostBin)
  throw new Error('GO_PLUGIN_BIN and GO_HOST_BIN are set by `npm run test:go-plugin`');

async function goPlugin() {
  const logs = tempDir('go-plugin-logs');
  const capture = captureLogs();
  const driver = await createPluginDriver({
    command: pluginBin!,
    name: 'go-mock',
    logDir: logs.path,
    logger: capture.logger,
  });
  return { driver, logs, capture };
}

describeDriverContract({
  name: 'Go plugin (go-plugin 1.0.1) over RPC',
  driverName: 'go-mock',
  intervalMs: 50,
  create: async () => {
    const { driver, logs } = await goPlugin();
    return {
      driver,
      close: async () => {
        await driver.stop();
        logs.remove();
      },
    };
  },
  longTask: (id) => ({ id, name: 'long', config: {} }),
  exitingTask: (id) => ({
    spec: { id, name: 'exiting', config: { runForMs: 50, exitCode: 3 } },
    exitCode: 3,
  }),
});

describe('go-plugin interop', () => {
  it('the Go plugin killed mid-stream: PluginShutdownError, then it is relaunched', async () => {
    const { driver, logs, capture } = await goPlugin();
    try {
      // go-plugin's hclog lines on stderr are re-logged at their level.
      expect(capture.lines.some((line) => line.plugin === 'go-mock')).toBe(true);
      await driver.startTask({ id: 'go/k', name: 'k', config: {} });
      const stream = await driver.taskStats('go/k', 50, new AbortController().signal);
      const { pid, address } = driver.reattach!;
      const reading = (async () => {
        for await (const _ of stream) process.kill(pid, 'SIGKILL');
      })();
      await expect(reading).rejects.toBeInstanceOf(PluginShutdownError);
      const deadline = Date.now() + 10_000;
      while (!(driver.reattach && driver.reattach.pid !== pid) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(driver.reattach?.pid).not.toBe(pid);
      // go-plugin's socket file stays behind a killed plugin: the host removed it.
      expect(existsSync(address.replace(/^unix:/, ''))).toBe(false);
      // The Go plugin keeps tasks in memory and has no RecoverTask: its task is reported lost.
      expect((await driver.waitTask('go/k')).error?.message).toMatch(/task lost with its plugin/);
    } finally {
      await driver.stop();
      logs.remove();
    }
  });

  it("go-plugin's Go host launches `taskpulse plugin mock` and drives it", () => {
    const result = spawnSync(hostBin!, [process.execPath, CLI, 'plugin', 'mock'], {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (result.status !== 0) console.error(result.stdout, result.stderr);
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('ok '))).toHaveLength(9);
    expect(result.stdout).toContain('ok stats stream: 2 samples with measured lists, cancelled cleanly');
    expect(result.stdout).toContain('ok shutdown through the controller; plugin exited');
  });
});
