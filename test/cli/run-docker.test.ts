/**
 * `taskpulse run --driver docker` against the fake engine on a socket: DOCKER_HOST (unix://) is
 * honoured, `--docker-socket` wins over it, and `--cpus` / `--memory` become the container's limits as
 * with `docker run`. The fake replays mem-grow (OOM-killed after 14 frames, 0.3 s at 50×): exit 137.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeDockerEngine, startFakeDockerEngine } from '../support/fake-docker-engine.js';
import { jsonLines, runCli } from './cli.js';

const MEM_GROW = ['busybox:local', '/bin/sh', '-c', 'x=a; while :; do x="$x$x"; sleep 1; done'];

let fake: FakeDockerEngine;
beforeEach(async () => {
  fake = await startFakeDockerEngine({ speedup: 50 });
});
afterEach(async () => {
  await fake.close();
});

describe('taskpulse run --driver docker', () => {
  it('talks to DOCKER_HOST and passes --cpus and --memory as the container limits', async () => {
    const { code, stdout, stderr } = await runCli(
      [
        'run',
        '--output',
        'json',
        '--driver',
        'docker',
        '--cpus',
        '0.5',
        '--memory',
        '64m',
        '--',
        ...MEM_GROW,
      ],
      { DOCKER_HOST: `unix://${fake.socketPath}` },
    );
    expect(stderr).toBe('');
    expect(code).toBe(137);
    expect(fake.created).toHaveLength(1);
    expect(fake.created[0]?.HostConfig).toMatchObject({ NanoCpus: 500_000_000, Memory: 64 * 2 ** 20 });
    expect(jsonLines(stdout).at(-1)).toMatchObject({ type: 'summary' });
  });

  it('--docker-socket wins over DOCKER_HOST', async () => {
    const { code } = await runCli(
      ['run', '--driver', 'docker', '--docker-socket', fake.socketPath, '--', ...MEM_GROW],
      {
        DOCKER_HOST: 'unix:///nonexistent/docker.sock',
      },
    );
    expect(code).toBe(137);
    expect(fake.created).toHaveLength(1);
  });

  it('a DOCKER_HOST it cannot use, and limits without the docker driver, are clear errors', async () => {
    const tcp = await runCli(['run', '--driver', 'docker', '--', ...MEM_GROW], {
      DOCKER_HOST: 'tcp://127.0.0.1:2375',
    });
    expect(tcp.code).not.toBe(0);
    expect(tcp.stderr).toContain('DOCKER_HOST=tcp://127.0.0.1:2375 is not supported');
    const exec = await runCli(['run', '--cpus', '1', '--', 'true']);
    expect(exec.code).toBe(2);
    expect(exec.stderr).toContain('--cpus and --memory need --driver docker');
    const bad = await runCli(['run', '--driver', 'docker', '--memory', '64x', '--', ...MEM_GROW]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'64x' is invalid");
    expect(fake.created).toHaveLength(0);
  });
});
