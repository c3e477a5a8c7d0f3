/**
 * Where the Docker Engine is: `DOCKER_HOST`, as every Docker client reads it. Only `unix://` sockets
 * are supported (the driver speaks to a socket path); an explicit socket (`--docker-socket`,
 * `dockerSocketPath`) wins over it.
 */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** `DOCKER_HOST` set to something this driver cannot use. */
export class DockerHostError extends Error {
  override readonly name = 'DockerHostError';
  constructor(readonly value: string) {
    super(
      `DOCKER_HOST=${value} is not supported: the docker driver needs a unix:// socket path (or use --docker-socket <path>)`,
    );
  }
}

/** The socket path `DOCKER_HOST` names, or undefined when it is unset or empty. */
export function dockerSocketFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.DOCKER_HOST?.trim();
  if (!value) return undefined;
  const match = /^unix:\/\/(\/.*)$/.exec(value);
  if (!match?.[1]) throw new DockerHostError(value);
  return match[1];
}

/** The socket to use: the explicit one, else `DOCKER_HOST`, else /var/run/docker.sock. */
export function resolveDockerSocket(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return explicit || dockerSocketFromEnv(env) || DEFAULT_DOCKER_SOCKET;
}
