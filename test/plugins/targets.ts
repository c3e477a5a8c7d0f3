/**
 * The contract suite's targets: each built-in driver in process and over RPC (a real
 * `taskpulse plugin <driver>` process launched by `createPluginDriver`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDockerDriver } from '../../src/drivers/docker/index.js';
import { createExecDriver } from '../../src/drivers/exec/index.js';
import { createMockDriver } from '../../src/drivers/mock.js';
import { createPluginDriver, type PluginDriverOptions } from '../../src/plugins/plugin-driver.js';
import { cpuHalfTask, memGrowTask, startEngine } from '../docker/engine.js';
import { removeTestCgroups } from '../support/cli-cgroups.js';
import type { ContractTarget } from './driver-contract.js';

export const CLI = resolve(import.meta.dirname, '../../bin/taskpulse.js');

/** `taskpulse plugin <driver> …` as a plugin command. */
export function builtInPlugin(
  driver: string,
  ...args: string[]
): Pick<PluginDriverOptions, 'command' | 'args' | 'name'> {
  return { command: process.execPath, args: [CLI, 'plugin', driver, ...args], name: driver };
}

export function tempDir(what: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `taskpulse-${what}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A cgroup parent of this run's own: other worktrees' suites use `taskpulse-test` at the same time. */
const CGROUP_PARENT = `taskpulse-test-plugins-${process.pid}`;

const mockLong = (id: string) => ({ id, name: 'long', config: {} });
const mockExiting = (id: string) => ({
  spec: { id, name: 'exiting', config: { runForMs: 50, exitCode: 3 } },
  exitCode: 3,
});
const execLong = (id: string) => ({ id, name: 'long', config: { command: 'sleep', args: ['30'] } });
const execExiting = (id: string) => ({
  spec: { id, name: 'exiting', config: { command: 'sh', args: ['-c', 'sleep 0.05; exit 3'] } },
  exitCode: 3,
});
const dockerLong = (id: string) => ({ ...cpuHalfTask(), id });
const dockerExiting = (id: string) => ({ spec: { ...memGrowTask(), id }, exitCode: 137 });

export const inProcessTargets: ContractTarget[] = [
  {
    name: 'mock in process',
    driverName: 'mock',
    intervalMs: 50,
    create: async () => ({ driver: createMockDriver(), close: async () => {} }),
    longTask: mockLong,
    exitingTask: mockExiting,
  },
  {
    name: 'exec in process',
    driverName: 'exec',
    intervalMs: 50,
    create: async () => {
      const logs = tempDir('exec-logs');
      return {
        driver: createExecDriver({ logDir: logs.path, cgroupParent: CGROUP_PARENT }),
        close: async () => {
          logs.remove();
          removeTestCgroups(CGROUP_PARENT);
        },
      };
    },
    longTask: execLong,
    exitingTask: execExiting,
  },
  {
    name: 'docker (recorded engine) in process',
    driverName: 'docker',
    intervalMs: 50,
    create: async () => {
      const engine = await startEngine();
      return { driver: createDockerDriver({ socketPath: engine.socketPath }), close: () => engine.close() };
    },
    longTask: dockerLong,
    exitingTask: dockerExiting,
  },
];

export const rpcTargets: ContractTarget[] = [
  {
    name: 'mock over RPC',
    driverName: 'mock',
    intervalMs: 50,
    create: async () => {
      const logs = tempDir('plugin-logs');
      const driver = await createPluginDriver({ ...builtInPlugin('mock'), logDir: logs.path });
      return {
        driver,
        close: async () => {
          await driver.stop();
          logs.remove();
        },
      };
    },
    longTask: mockLong,
    exitingTask: mockExiting,
  },
  {
    name: 'exec over RPC',
    driverName: 'exec',
    intervalMs: 50,
    create: async () => {
      const logs = tempDir('plugin-logs');
      const driver = await createPluginDriver({
        ...builtInPlugin(
          'exec',
          '--exec-log-dir',
          join(logs.path, 'tasks'),
          '--cgroup-parent',
          CGROUP_PARENT,
        ),
        logDir: logs.path,
      });
      return {
        driver,
        close: async () => {
          await driver.stop();
          logs.remove();
          removeTestCgroups(CGROUP_PARENT);
        },
      };
    },
    longTask: execLong,
    exitingTask: execExiting,
  },
  {
    name: 'docker (recorded engine) over RPC',
    driverName: 'docker',
    intervalMs: 50,
    create: async () => {
      const engine = await startEngine();
      const logs = tempDir('plugin-logs');
      const driver = await createPluginDriver({
        ...builtInPlugin('docker', '--docker-socket', engine.socketPath),
        logDir: logs.path,
      });
      return {
        driver,
        close: async () => {
          await driver.stop();
          await engine.close();
          logs.remove();
        },
      };
    },
    longTask: dockerLong,
    exitingTask: dockerExiting,
  },
];
