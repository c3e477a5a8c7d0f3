/**
 * Cost of one write of the agent's state (docs/recovery.md): the atomic replace (temp file, fsync,
 * rename, fsync of the dir) of a state with 1, 10, 100 and 1000 tasks, in the data dir given (the
 * disk the agent would use; default a temp dir) and, for comparison, without the two fsyncs.
 * Run: `npx tsx bench/state-write.ts [dir]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/agent/state/atomic-file.js';
import { type AgentState, STATE_VERSION } from '../src/agent/state/state-file.js';

const ROUNDS = 200;
const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'taskpulse-bench-state-'));

function stateWith(tasks: number): AgentState {
  const perAlloc = 10;
  return {
    version: STATE_VERSION,
    savedAt: Date.now(),
    agent: { pid: process.pid },
    plugins: {
      exec: { protocol: 'grpc', protocolVersion: 1, address: 'unix:/tmp/x/plugin.sock', pid: 1234 },
    },
    allocations: Array.from({ length: Math.ceil(tasks / perAlloc) }, (_, a) => ({
      id: `00000000-0000-4000-8000-${String(a).padStart(12, '0')}`,
      job: 'bench',
      group: 'g',
      index: a,
      tasks: Array.from({ length: Math.min(perAlloc, tasks - a * perAlloc) }, (_, t) => ({
        name: `task-${t}`,
        driver: 'exec',
        spec: {
          id: `alloc-${a}/task-${t}`,
          name: `task-${t}`,
          allocId: `alloc-${a}`,
          config: { command: 'node', args: ['-e', 'setInterval(() => {}, 1000)'] },
        },
        state: 'running',
        handle: {
          taskId: `alloc-${a}/task-${t}`,
          startedAt: Date.now(),
          pid: 100_000 + t,
          driverState: { startTime: 123456, stdoutPath: '/tmp/l/out', stderrPath: '/tmp/l/err' },
        },
        restarts: 1,
        restartWindow: { startedAt: Date.now(), count: 1 },
        failed: false,
      })),
    })),
  };
}

async function time(label: string, write: () => Promise<void>) {
  for (let i = 0; i < 10; i++) await write();
  const took: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now();
    await write();
    took.push(performance.now() - start);
  }
  took.sort((a, b) => a - b);
  const at = (q: number) => took[Math.min(took.length - 1, Math.floor(q * took.length))]!.toFixed(2);
  console.log(`${label.padEnd(44)} median ${at(0.5).padStart(7)} ms   p95 ${at(0.95).padStart(7)} ms`);
}

try {
  for (const tasks of [1, 10, 100, 1000]) {
    const text = `${JSON.stringify(stateWith(tasks))}\n`;
    const path = join(dir, 'state.json');
    await time(`${tasks} tasks (${(text.length / 1024).toFixed(1)} KiB), atomic + fsync`, () =>
      writeFileAtomic(path, text),
    );
    await time(`${tasks} tasks, temp + rename, no fsync`, async () => {
      await writeFile(`${path}.nosync`, text);
      await rename(`${path}.nosync`, path);
    });
  }
} finally {
  if (!process.argv[2]) rmSync(dir, { recursive: true, force: true });
}
