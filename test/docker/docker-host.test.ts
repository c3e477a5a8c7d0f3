import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DOCKER_SOCKET,
  DockerHostError,
  dockerSocketFromEnv,
  resolveDockerSocket,
} from '../../src/drivers/docker/docker-host.js';

describe('DOCKER_HOST', () => {
  it('a unix:// path is the socket; unset or empty means none', () => {
    expect(dockerSocketFromEnv({ DOCKER_HOST: 'unix:///tmp/tp-docker/docker.sock' })).toBe(
      '/tmp/tp-docker/docker.sock',
    );
    expect(dockerSocketFromEnv({})).toBeUndefined();
    expect(dockerSocketFromEnv({ DOCKER_HOST: ' ' })).toBeUndefined();
  });

  it('anything else is an error naming the variable and its value', () => {
    for (const value of [
      'tcp://127.0.0.1:2375',
      'ssh://me@host',
      'unix://relative.sock',
      '/var/run/docker.sock',
    ]) {
      expect(() => dockerSocketFromEnv({ DOCKER_HOST: value })).toThrow(DockerHostError);
      expect(() => dockerSocketFromEnv({ DOCKER_HOST: value })).toThrow(
        `DOCKER_HOST=${value} is not supported`,
      );
    }
  });

  it('an explicit socket wins, then DOCKER_HOST, then the default; an explicit one ignores a bad DOCKER_HOST', () => {
    expect(resolveDockerSocket('/run/a.sock', { DOCKER_HOST: 'unix:///run/b.sock' })).toBe('/run/a.sock');
    expect(resolveDockerSocket(undefined, { DOCKER_HOST: 'unix:///run/b.sock' })).toBe('/run/b.sock');
    expect(resolveDockerSocket(undefined, {})).toBe(DEFAULT_DOCKER_SOCKET);
    expect(resolveDockerSocket('/run/a.sock', { DOCKER_HOST: 'tcp://x:1' })).toBe('/run/a.sock');
  });
});
