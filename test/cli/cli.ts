/** Spawns the real `taskpulse` CLI (bin/taskpulse.js) as a child process, for end-to-end tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_CGROUP_PARENT } from '../support/cli-cgroups.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'taskpulse.js');

/**
 * Each CLI process gets a data dir of its own (the agent's default one is shared by every agent of
 * the user, and a second agent on it refuses to start), under the run's state root (vitest.config.ts),
 * which the next run empties.
 */
const STATE_ROOT = join(dirname(process.env.TASKPULSE_DATA_DIR ?? join(tmpdir(), 'x', 'default')), 'cli');
let stateDirs = 0;
/** A fresh data dir for one agent (or several in turn, when a test gives it to each). */
export const freshDataDir = () => join(STATE_ROOT, `${process.pid}-${++stateDirs}`);

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (128 + n for a signal), once stdout and stderr are closed. */
  exited: Promise<number>;
}

/** `wrapper`: a command that execs the rest (`setpriv --reuid=… --`), so the child is still the CLI. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, wrapper: string[] = []): CliProcess {
  const [file, ...argv] = [...wrapper, process.execPath, BIN, ...args];
  const child = spawn(file!, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Task cgroups under a parent of the tests' own, removed after the run (test/support/cli-cgroups.ts).
    env: {
      ...process.env,
      TASKPULSE_CGROUP_PARENT: TEST_CGROUP_PARENT,
      TASKPULSE_DATA_DIR: freshDataDir(),
      ...env,
    },
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<number>((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1)));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = startCli(args, env);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A TCP port free right now, for a server a test starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Writes a job file into a fresh temporary directory. */
export function writeJob(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-test-'));
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

/** JSON lines of stdout, parsed. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** True while a process with this pid exists (zombies included). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
