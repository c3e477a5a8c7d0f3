/**
 * The agent with driver plugins: a job's `plugins:` (real `taskpulse plugin mock` processes), the
 * built-in exec driver out of process, the job-file errors, and no plugin left after the agent ends.
 */
import { describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent/create-agent.js';
import { JobFileError, parseJob } from '../../src/agent/load-job.js';
import { captureLogs } from '../docker/engine.js';
import { CLI, tempDir } from './targets.js';

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

function pluginPids(logs: ReturnType<typeof captureLogs>): number[] {
  return logs.lines.filter((line) => line.msg === 'plugin serving').map((line) => line.pid as number);
}

describe('agent with driver plugins', () => {
  it("runs a job's tasks on the plugin it names, and stops the plugin when it ends", async () => {
    const job = parseJob({
      name: 'j',
      type: 'batch',
      plugins: { 'my-mock': { command: process.execPath, args: [CLI, 'plugin', 'mock'] } },
      groups: [
        {
          name: 'g',
          tasks: [{ name: 't', driver: 'plugin', plugin: 'my-mock', config: { runForMs: 300, exitCode: 0 } }],
        },
      ],
    });
    const logs = captureLogs();
    const agent = createAgent({ jobs: [job], logger: logs.logger });
    await agent.start();
    const summary = await agent.done;
    expect(summary).toMatchObject({ reason: 'tasks-done', failed: false });
    expect(summary.tasks[0]).toMatchObject({ exitCode: 0 });
    const [pid] = pluginPids(logs);
    expect(pid).toBeGreaterThan(0);
    expect(gone(pid!)).toBe(true);
  });

  it('runs the exec driver out of process when asked, with real exec samples', async () => {
    const job = parseJob({
      name: 'j',
      type: 'batch',
      groups: [
        {
          name: 'g',
          tasks: [
            {
              name: 'sleepy',
              driver: 'exec',
              config: { command: 'sh', args: ['-c', 'sleep 0.6; exit 4'] },
              stats_interval: '100ms',
            },
          ],
          restart: { attempts: 0, mode: 'fail' },
        },
      ],
    });
    const logs = captureLogs();
    const dir = tempDir('agent-exec-logs');
    const agent = createAgent({
      jobs: [job],
      logger: logs.logger,
      execOutOfProcess: true,
      execLogDir: dir.path,
    });
    let samples = 0;
    agent.bus.on('task:stats', () => {
      samples++;
    });
    await agent.start();
    const summary = await agent.done;
    dir.remove();
    expect(summary.tasks[0]).toMatchObject({ exitCode: 4 });
    expect(samples).toBeGreaterThan(0);
    const [pid] = pluginPids(logs);
    expect(logs.lines.some((line) => line.plugin === 'exec')).toBe(true);
    expect(gone(pid!)).toBe(true);
  });

  it('a task naming a plugin the job does not define is a job error naming the field and the value', () => {
    let error: unknown;
    try {
      parseJob({
        name: 'j',
        groups: [{ name: 'g', tasks: [{ name: 't', driver: 'plugin', plugin: 'nope' }] }],
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(JobFileError);
    expect((error as JobFileError).problems).toContainEqual(
      expect.objectContaining({
        path: 'groups[0].tasks[0].plugin',
        message: 'no plugin "nope" in the job\'s plugins',
      }),
    );
  });

  it('a plugin that cannot start fails the agent start with its error, and starts nothing', async () => {
    const job = parseJob({
      name: 'j',
      plugins: { broken: { command: process.execPath, args: ['-e', 'process.exit(2)'] } },
      groups: [{ name: 'g', tasks: [{ name: 't', driver: 'plugin', plugin: 'broken' }] }],
    });
    const agent = createAgent({ jobs: [job] });
    await expect(agent.start()).rejects.toThrow(/plugin "broken".*exited with code 2 before its handshake/);
    expect(agent.allocations[0]?.tasks.size).toBe(0);
  });
});
