/**
 * The library as users run it: tsc's output in `dist/` (what the package exports), not the sources
 * under tsx. tsx transpiles with esbuild's `keepNames`, which gives every named function and closure
 * a `name` property of its own: ~5 KiB more heap per running task in the scale benchmark than the
 * built code holds, and more to collect (docs/benchmarks.md, section 8). Refuses a `dist/` that is
 * missing or older than a source file, so a figure never comes from stale code.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

let checked = false;

/** Throws, naming the file, unless every source under src/ and machines/ has a newer build. */
export function assertBuilt(): void {
  if (checked) return;
  for (const dir of ['src', 'machines']) {
    for (const source of sources(join(root, dir))) {
      const built = join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js');
      let builtAt: number;
      try {
        builtAt = statSync(built).mtimeMs;
      } catch {
        throw new Error(`${relative(root, built)} is missing: run \`npm run build\` before the benchmark`);
      }
      if (builtAt < statSync(source).mtimeMs) {
        throw new Error(
          `${relative(root, built)} is older than ${relative(root, source)}: run \`npm run build\` before the benchmark`,
        );
      }
    }
  }
  checked = true;
}

/** Imports a built module by its source path (`src/task-runner/create-task-runner.ts`), typed as the source. */
export async function importBuilt<T>(sourcePath: string): Promise<T> {
  assertBuilt();
  return (await import(pathToFileURL(join(root, 'dist', sourcePath.replace(/\.ts$/, '.js'))).href)) as T;
}
