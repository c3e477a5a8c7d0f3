/**
 * `npm run test:docker-real`: runs the docker driver's lifecycle tests (test/docker/lifecycle.test.ts)
 * against a real Docker Engine instead of the fake one. Opt-in: nothing here runs in `npm test`.
 *
 *   DOCKER_SOCKET=/var/run/docker.sock npm run test:docker-real
 *   TASKPULSE_DOCKER_IMAGE=busybox:latest DOCKER_SOCKET=... npm run test:docker-real
 *
 * The image must already be there (the driver never pulls) and must have `/bin/sh` (busybox does).
 * Fails, never skips, when the engine or the image is missing. See docs/drivers/docker.md.
 */
import { spawn } from 'node:child_process';
import Docker from 'dockerode';

const socketPath = process.env.DOCKER_SOCKET || process.argv[2] || '/var/run/docker.sock';
const image = process.env.TASKPULSE_DOCKER_IMAGE || 'busybox:local';

async function main(): Promise<number> {
  const docker = new Docker({ socketPath });
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 5 s')), 5000).unref()),
    ]);
  } catch (error) {
    console.error(`No Docker Engine answers at ${socketPath}: ${String(error)}`);
    console.error('Set DOCKER_SOCKET to the engine socket (see docs/drivers/docker.md).');
    return 1;
  }
  try {
    await docker.getImage(image).inspect();
  } catch {
    console.error(`Image ${image} is not on the engine. Pull it (docker pull busybox && set`);
    console.error('TASKPULSE_DOCKER_IMAGE=busybox:latest) or import one as the fixtures README shows.');
    return 1;
  }
  console.log(`Running the docker driver tests against ${socketPath} with image ${image}`);
  const child = spawn('npx', ['vitest', 'run', 'test/docker/lifecycle.test.ts'], {
    stdio: 'inherit',
    env: { ...process.env, DOCKER_SOCKET: socketPath, TASKPULSE_DOCKER_IMAGE: image },
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

process.exitCode = await main();
