/**
 * `npm run test:docker-real`: runs the docker driver's lifecycle tests (test/docker/lifecycle.test.ts)
 * against a real Docker Engine instead of the fake one. Opt-in: nothing here runs in `npm test`.
 * `npm run test:docker-faults` (this script with `--faults`) runs the engine-fault tests
 * (test/docker/engine-faults.real.test.ts) instead: they stop, kill and restart dockerd, so they need
 * root and the engine of `../shared/tools/docker-engine.sh` (TASKPULSE_DOCKER_ENGINE_SH to point
 * elsewhere), never a system's own dockerd.
 *
 *   DOCKER_HOST=unix:///var/run/docker.sock npm run test:docker-real
 *   TASKPULSE_DOCKER_IMAGE=busybox:latest DOCKER_SOCKET=... npm run test:docker-real
 *   eval "$(../shared/tools/docker-engine.sh env)" && npm run test:docker-faults
 *
 * The socket: DOCKER_SOCKET, else DOCKER_HOST (unix://), else the first argument, else
 * /var/run/docker.sock. The image must already be there (the driver never pulls) and must have
 * `/bin/sh` (busybox does). Fails, never skips, when the engine or the image is missing.
 * See docs/drivers/docker.md.
 */
import { spawn } from 'node:child_process';
import Docker from 'dockerode';
import { dockerSocketFromEnv } from '../src/drivers/docker/docker-host.js';

const faults = process.argv.includes('--faults');
const positional = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const socketPath =
  process.env.DOCKER_SOCKET || dockerSocketFromEnv(process.env) || positional[0] || '/var/run/docker.sock';
const image = process.env.TASKPULSE_DOCKER_IMAGE || 'busybox:local';
const testFile = faults ? 'test/docker/engine-faults.real.test.ts' : 'test/docker/lifecycle.test.ts';

async function main(): Promise<number> {
  const docker = new Docker({ socketPath });
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 5 s')), 5000).unref()),
    ]);
  } catch (error) {
    console.error(`No Docker Engine answers at ${socketPath}: ${String(error)}`);
    console.error('Set DOCKER_HOST or DOCKER_SOCKET to the engine socket (see docs/drivers/docker.md).');
    return 1;
  }
  try {
    await docker.getImage(image).inspect();
  } catch {
    console.error(`Image ${image} is not on the engine. Pull it (docker pull busybox && set`);
    console.error('TASKPULSE_DOCKER_IMAGE=busybox:latest) or import one as the fixtures README shows.');
    return 1;
  }
  console.log(`Running ${testFile} against ${socketPath} with image ${image}`);
  // The real-engine files are not in the unit project's include list: a config of their own.
  const child = spawn('npx', ['vitest', 'run', '--config', 'vitest.docker-real.config.ts', testFile], {
    stdio: 'inherit',
    env: { ...process.env, DOCKER_SOCKET: socketPath, TASKPULSE_DOCKER_IMAGE: image },
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

process.exitCode = await main();
