/**
 * Issue 11, case 7: 10,000 `true` tasks in one job, real processes through the real agent and exec
 * driver (with cgroups when root). Starts are bounded (concurrency and an fd budget), so every task
 * runs to completion: 0 start failures, no error line, no EMFILE, no cgroup or process left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { createExecDriver } from '../../src/drivers/exec/index.js';
import { TEST_CGROUP_PARENT } from '../support/cli-cgroups.js';
import { cgroupDirsOf } from '../support/leftovers.js';
import { captureLogs } from '../support/log-capture.js';

const GROUPS = 10;
const COUNT = 1000; // the job schema's maximum per group

describe('10,000 tasks in one job', () => {
  it('all run to completion with 0 start failures and leave nothing behind', {
    timeout: 900_000,
  }, async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'taskpulse-many-'));
    const logs = captureLogs('warn');
    const exec = createExecDriver({ logDir, cgroupParent: TEST_CGROUP_PARENT, logger: logs.logger });
    const job = parseJob({
      name: 'many',
      type: 'batch',
      groups: Array.from({ length: GROUPS }, (_, index) => ({
        name: `g${index}`,
        count: COUNT,
        restart: { attempts: 0, mode: 'fail' },
        tasks: [{ name: 't', driver: 'exec', config: { command: 'true' } }],
      })),
    });
    const agent = createAgent({ jobs: [job], drivers: { exec }, logger: logs.logger });
    const startedAt = Date.now();
    try {
      await agent.start();
      const summary = await agent.done;
      const seconds = (Date.now() - startedAt) / 1000;
      console.info(`10,000 true tasks: ${seconds.toFixed(1)} s (cgroups: ${exec.cgroups.version})`);
      expect(summary.tasks).toHaveLength(GROUPS * COUNT);
      const failed = summary.tasks.filter((task) => task.failed || task.exitCode !== 0);
      expect(failed.slice(0, 3)).toEqual([]);
      expect(summary.failed).toBe(false);
      expect(logs.at('error')).toEqual([]);
      expect(logs.lines.some((line) => /EMFILE/.test(JSON.stringify(line)))).toBe(false);
      // Cgroups stayed on for every task: a transient failure never switched them off.
      if (process.getuid?.() === 0) expect(exec.cgroups.version).not.toBe('none');
      expect(cgroupDirsOf(agent.allocations.map((alloc) => alloc.id))).toEqual([]);
    } finally {
      await exec.destroyAll();
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});
