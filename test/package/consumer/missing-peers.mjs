// Run by test/package/consumer.test.ts in a project that installed taskpulse without its optional
// peers: the docker driver is created, but using it fails with an error naming dockerode.
import { createDockerDriver, MissingPackageError } from 'taskpulse';

const driver = createDockerDriver({ socketPath: '/var/run/docker.sock' });
try {
  await driver.startTask({ id: 'a/web', name: 'web', config: { image: 'alpine:3' } });
  console.log('started: dockerode was found');
} catch (error) {
  console.log(error instanceof MissingPackageError ? `MissingPackageError: ${error.message}` : String(error));
}
