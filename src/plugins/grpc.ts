/**
 * The gRPC libraries of driver plugins, loaded once for every module of src/plugins/. They are
 * optional peer dependencies: only plugins use them (`taskpulse/plugin`, `driver: plugin` in a job,
 * the out-of-process exec driver), so an embedder of the core installs and loads neither. Without
 * them, importing any plugin module rejects with a `MissingPackageError` naming the package. The
 * `taskpulse` command carries its own copy in its bundle (scripts/bundle-cli.mjs).
 * Only values come from here; types are imported from the packages with `import type`.
 */
import { importOptional } from '../runtime/optional-package.js';

/** The subject of the error's message: "… needs the package …". */
const neededFor = 'taskpulse/plugin (driver plugins: `driver: plugin`, exec out of process)';

/**
 * A CommonJS package's exports from `import()`. Node gives them as `default` and by name, a split
 * chunk of the esbuild bundle only as `default`, tsx (tests, development) only by name.
 */
function exportsOf<T extends object>(namespace: T & { default?: T }): T {
  return namespace.default ?? namespace;
}

export const grpc = exportsOf(
  await importOptional('@grpc/grpc-js', neededFor, () => import('@grpc/grpc-js')),
);
export const protoLoader = exportsOf(
  await importOptional('@grpc/proto-loader', neededFor, () => import('@grpc/proto-loader')),
);
