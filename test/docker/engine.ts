/**
 * Shared plumbing of the docker driver tests: the engine (the fake one, or a real one when
 * `DOCKER_SOCKET` is set, see scripts/test-docker-real.ts), the two recorded workloads as task
 * specs, a pino logger that captures its lines, and a bounded poll.
 */
import pino from 'pino';
import type { TaskSpec } from '../../src/drivers/contract.js';
import { type FakeDockerEngine, startFakeDockerEngine } from '../support/fake-docker-engine.js';

/** Set by `npm run test:docker-real`: run against this engine instead of the fake one. */
export const REAL_SOCKET = process.env.DOCKER_SOCKET || undefined;
export const IMAGE = process.env.TASKPULSE_DOCKER_IMAGE || 'busybox:local';

/** Engine seconds per real second in the fake (1 against a real engine). */
export const SPEEDUP = REAL_SOCKET ? 1 : 50;
/** One engine second in real ms: the frame period. */
export const ENGINE_SECOND_MS = 1000 / SPEEDUP;

export interface TestEngine {
  socketPath: string;
  /** Only with the fake engine. */
  fake: FakeDockerEngine | undefined;
  close(): Promise<void>;
}

export async function startEngine(): Promise<TestEngine> {
  if (REAL_SOCKET) return { socketPath: REAL_SOCKET, fake: undefined, close: async () => {} };
  const fake = await startFakeDockerEngine({ speedup: SPEEDUP });
  return { socketPath: fake.socketPath, fake, close: () => fake.close() };
}

let counter = 0;
/** Recording A: `sh` busy-looping under a 0.5 CPU quota and a 64 MiB limit; runs until stopped. */
export function cpuHalfTask(): TaskSpec {
  counter += 1;
  return {
    id: `alloc-${counter}/cpu-half`,
    name: 'cpu-half',
    allocId: `alloc-${counter}`,
    config: { image: IMAGE, command: ['/bin/sh', '-c', 'while :; do :; done'], cpus: 0.5 },
    env: { TASKPULSE_TEST: '1' },
    resources: { memoryMb: 64 },
  };
}

/** Recording B: a string doubling every second until the 128 MiB limit OOM-kills it (≈ 13 s). */
export function memGrowTask(): TaskSpec {
  counter += 1;
  return {
    id: `alloc-${counter}/mem-grow`,
    name: 'mem-grow',
    config: {
      image: IMAGE,
      command: [
        '/bin/sh',
        '-c',
        'x=a; i=0; while [ $i -lt 12 ]; do x="$x$x"; i=$((i+1)); done; while :; do x="$x$x"; sleep 1; done',
      ],
    },
    resources: { memoryMb: 128 },
  };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A debug-level pino logger whose lines land in an array. */
export function captureLogs() {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return {
    logger,
    lines,
    /** Lines at `warn` (40) or above. */
    warnOrWorse: () => lines.filter((line) => line.level >= 40),
    errors: () => lines.filter((line) => line.level >= 50),
  };
}

/** Polls `condition` every few ms until it holds; fails after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  timeoutMs = 5000 * (REAL_SOCKET ? 6 : 1),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
