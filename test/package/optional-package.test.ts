import { describe, expect, it } from 'vitest';
import { importOptional, MissingPackageError } from '../../src/runtime/optional-package.js';

// Specifiers in variables, so TypeScript does not resolve them.
const absent = 'taskpulse-test-absent-package';
const absentScoped = '@taskpulse-test/absent/server';

describe('importOptional', () => {
  it('loads a package that is installed', async () => {
    const module = await importOptional('yaml', 'the test', () => import('yaml'));
    expect(typeof module.parse).toBe('function');
  });

  it('names a missing package and what needs it', async () => {
    const error = await importOptional(absent, 'the docker driver', () => import(absent)).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(MissingPackageError);
    expect(error).toMatchObject({ packageName: absent, neededFor: 'the docker driver' });
    // The range taskpulse declares is added for its optional peers (test/package/consumer.test.ts).
    expect((error as Error).message).toBe(
      `the docker driver needs the package "${absent}", which is not installed (npm install ${absent})`,
    );
  });

  it('recognises a missing scoped package imported by a subpath', async () => {
    const error = await importOptional(
      '@taskpulse-test/absent',
      '--inspect',
      () => import(absentScoped),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingPackageError);
    expect((error as Error).message).toContain('(npm install @taskpulse-test/absent)');
  });

  it('passes on any other failure, e.g. a dependency of the package that is missing', async () => {
    const error = await importOptional('dockerode', 'the docker driver', () => import(absent)).catch(
      (caught: unknown) => caught,
    );
    expect(error).not.toBeInstanceOf(MissingPackageError);
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_MODULE_NOT_FOUND');
  });
});
