/**
 * Cost of one exec-driver sample, in µs: for one process and for a 50-process tree, with the task's
 * cgroup (when root and the host has one) and with the /proc tree walk. Also the tree walk alone.
 * Run: `npx tsx bench/exec-sample-cost.ts`
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroupLayout } from '../src/drivers/exec/cgroups.js';
import { HeldFile } from '../src/drivers/exec/held-file.js';
import { hostHasSwap, readHostCpu } from '../src/drivers/exec/host-cpu.js';
import { listProcessTree } from '../src/drivers/exec/process-tree.js';
import { createTaskSampler } from '../src/drivers/exec/sampler.js';
import { spawnTask } from '../src/drivers/exec/spawn-task.js';
import { createCgroupManager } from '../src/drivers/exec/task-cgroup.js';

const ROUNDS = 2000;
const host = readHostCpu();
const logDir = '/tmp/taskpulse-bench-logs';

/** `sh` that starts 7 subshells of 6 `sleep`s each: 1 + 7 + 42 = 50 processes. */
const TREE_SCRIPT =
  'for i in 1 2 3 4 5 6 7; do (for j in 1 2 3 4 5 6; do sleep 60 & done; wait) & done; wait';

function timeIt(label: string, rounds: number, fn: () => void): void {
  for (let i = 0; i < 50; i++) fn(); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fn();
  const micros = Number(process.hrtime.bigint() - start) / 1000 / rounds;
  console.log(`${label.padEnd(46)} ${micros.toFixed(1).padStart(8)} µs/sample`);
}

async function measure(label: string, args: string[], expected: number, useCgroup: boolean): Promise<void> {
  const layout = detectCgroupLayout();
  const manager =
    useCgroup && layout.version !== 'none' ? createCgroupManager(layout, 'taskpulse-bench') : undefined;
  if (useCgroup && !manager) {
    console.log(`${label.padEnd(46)} skipped: ${layout.version === 'none' ? layout.reason : ''}`);
    return;
  }
  manager?.prepare();
  const cgroup = manager?.create(`bench-${process.pid}`);
  const task = await spawnTask({
    spec: { id: `bench/${label}`, name: 'bench', config: { command: 'sh', args } },
    logDir,
    ...(cgroup ? { procsFiles: cgroup.procsFiles } : {}),
  });
  try {
    for (let i = 0; i < 200 && listProcessTree(task.pid).length < expected; i++) await sleep(10);
    const sampler = createTaskSampler({
      rootPid: task.pid,
      host,
      hostHasSwap: hostHasSwap(),
      ...(cgroup ? { cgroup } : {}),
    });
    timeIt(`${label} (${cgroup ? `cgroup ${cgroup.version}` : '/proc tree'})`, ROUNDS, () => {
      sampler.sample();
    });
    console.log(`${''.padEnd(46)} pids tracked: ${sampler.pidCount}`);
    if (!cgroup) timeIt(`${label}: tree walk alone`, ROUNDS, () => listProcessTree(task.pid));
    sampler.close();
  } finally {
    process.kill(-task.pid, 'SIGKILL');
    await new Promise((resolve) => task.child.once('exit', resolve));
    await cgroup?.remove();
    manager?.release();
  }
}

console.log(`host: ${host.cores} cores, ${host.totalMhz.toFixed(0)} MHz total; ${ROUNDS} samples each`);
// Calibration: one held-fd read of a /proc file (about 5 µs on an idle host of this kind).
const statFile = new HeldFile(`/proc/${process.pid}/stat`);
timeIt('baseline: one held-fd /proc read', ROUNDS * 5, () => statFile.read());
statFile.close();
for (const useCgroup of [false, true]) {
  await measure('1 process', ['-c', 'sleep 60'], 1, useCgroup);
  await measure('50-process tree', ['-c', TREE_SCRIPT], 50, useCgroup);
}
