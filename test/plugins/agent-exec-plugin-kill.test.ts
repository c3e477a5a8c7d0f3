/**
 * Issue #12's "tasks the plugin owned are re-attached through the recover call", for exec, with the
 * whole agent: the out-of-process exec plugin is killed with SIGKILL while a task runs; the task
 * lives on (never started again), the relaunched plugin re-attaches it by its handle, its stats
 * resume, and the agent's stop still kills every process of it and both plugins are gone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { createAgent } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { processIdentity } from '../../src/drivers/exec/recover.js';
import { captureLogs } from '../docker/engine.js';
import { pidsInGroup, waitFor } from '../exec/helpers.js';
import { removeTestCgroups } from '../support/cli-cgroups.js';
import { tempDir } from './targets.js';

const CGROUP_PARENT = `taskpulse-test-agent-exec-kill-${process.pid}`;

const live = (pid: number) => {
  const identity = processIdentity(pid);
  return identity !== undefined && identity.state !== 'Z';
};

/** Direct children of `pid`, from every thread's `children` file. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1')
        .trim()
        .split(' ')
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

it('kill -9 of the exec plugin under a running agent: the task is re-attached, not restarted, and the stop leaves nothing', async () => {
  const job = parseJob({
    name: 'j',
    type: 'service',
    groups: [
      {
        name: 'g',
        tasks: [
          {
            name: 'tree',
            driver: 'exec',
            config: { command: 'sh', args: ['-c', 'sleep 30 & wait'] },
            stats_interval: '100ms',
          },
        ],
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
    execCgroupParent: CGROUP_PARENT,
  });
  let samples = 0;
  agent.bus.on('task:stats', () => {
    samples++;
  });
  const states: string[] = [];
  agent.bus.on('task:state', ({ state }) => states.push(state));
  try {
    await agent.start();
    await waitFor('samples', () => samples >= 2, 10_000);
    const serving = () =>
      logs.lines.filter((line) => line.msg === 'plugin serving').map((l) => l.pid as number);
    const [plugin] = serving();
    const [task] = childrenOf(plugin!);
    expect(task).toBeGreaterThan(0);
    const startTime = processIdentity(task!)?.startTime;
    const startsBefore = states.filter((state) => state === 'starting').length;
    expect(startsBefore).toBe(1);

    process.kill(plugin!, 'SIGKILL');
    await waitFor('the relaunched plugin', () => serving().length === 2, 15_000);
    const relaunched = serving()[1]!;
    const atRelaunch = samples;
    await waitFor('stats again', () => samples >= atRelaunch + 3, 15_000);

    // The same process, not a second copy: the new plugin started nothing, the runner never restarted.
    expect(live(task!)).toBe(true);
    expect(processIdentity(task!)?.startTime).toBe(startTime);
    expect(childrenOf(relaunched)).toEqual([]);
    expect(states.filter((state) => state === 'starting').length).toBe(startsBefore);
    expect(logs.lines.some((line) => line.msg === 'task re-attached after the plugin restarted')).toBe(true);

    await agent.stop();
    await waitFor('the task tree gone', () => pidsInGroup(task!).length === 0, 5000);
    expect(live(plugin!)).toBe(false);
    expect(live(relaunched)).toBe(false);
  } finally {
    await agent.stop().catch(() => {});
    dir.remove();
    removeTestCgroups(CGROUP_PARENT);
  }
}, 60_000);
