import { defineConfig } from 'vitest/config';

/**
 * `npm run test:docker-real` / `test:docker-faults` (scripts/test-docker-real.ts): the docker tests
 * against a real engine, one file at a time (they share the engine, and the fault tests stop it).
 */
export default defineConfig({
  test: {
    include: ['test/docker/lifecycle.test.ts', 'test/docker/engine-faults.real.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    restoreMocks: true,
  },
});
