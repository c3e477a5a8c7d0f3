/**
 * Packages only some users need (the Docker client, pretty logs, the inspector relay, gRPC for driver
 * plugins) are optional peer dependencies of taskpulse: an embedder who never uses them does not
 * install them. They are imported on first use; when one is missing, the error names the package and
 * how to install it.
 */
import { createRequire } from 'node:module';

export class MissingPackageError extends Error {
  override readonly name = 'MissingPackageError';
  constructor(
    /** The npm package that is not installed, e.g. `dockerode`. */
    readonly packageName: string,
    /** What needs it, e.g. `the docker driver`. */
    readonly neededFor: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${neededFor} needs the package "${packageName}", which is not installed (npm install ${installSpec(packageName)})`,
      options,
    );
  }
}

/** `dockerode@^5.0.1`: the range taskpulse declares, so the user installs a version that works. */
function installSpec(packageName: string): string {
  try {
    const manifest = createRequire(import.meta.url)('taskpulse/package.json') as {
      peerDependencies?: Record<string, string>;
    };
    const range = manifest.peerDependencies?.[packageName];
    return range ? `${packageName}@${range}` : packageName;
  } catch {
    return packageName;
  }
}

/** True when `error` says that `packageName` itself (not one of its own dependencies) is missing. */
function isMissing(error: unknown, packageName: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    typeof message === 'string' &&
    (message.includes(`'${packageName}'`) || message.includes(`'${packageName}/`))
  );
}

/**
 * Runs `load` (a literal `import('pkg')`, so the result keeps its types); a missing `packageName`
 * becomes a {@link MissingPackageError}, any other failure is passed on as it is.
 */
export async function importOptional<T>(
  packageName: string,
  neededFor: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissing(error, packageName))
      throw new MissingPackageError(packageName, neededFor, { cause: error });
    throw error;
  }
}
