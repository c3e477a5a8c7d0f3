// The `taskpulse` command as one ESM bundle (dist/cli/), run by bin/taskpulse.js. Loading the CLI
// from ~200 separate files (zod and yaml alone are 170) cost about half of `validate`'s start-up
// time; one bundle, split at the commands' dynamic imports, starts `--version` and `validate` in
// half the CPU time (docs/benchmarks.md, cli-start). The library (dist/src/) is not bundled.
// Plain JavaScript, so `npm run build` (also run by `prepare`) needs no TypeScript runner.
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';

const outdir = new URL('../dist/cli/', import.meta.url).pathname;
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: [new URL('../src/cli/main.ts', import.meta.url).pathname],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Optional peer dependencies stay imports (loaded only when a flag or driver needs them), and the
  // version is read from the installed package.json. Not the gRPC libraries of driver plugins,
  // although they are optional peers of the library too: the bundle carries them (in chunks loaded
  // only by `taskpulse plugin …`, `driver: plugin` and `--exec-plugin`), so `npx taskpulse plugin
  // exec` works with nothing installed by hand; the library (dist/src/) imports the installed ones.
  external: ['dockerode', 'pino-pretty', '@statelyai/inspect', 'taskpulse/package.json'],
  // Bundled CommonJS dependencies (yaml, commander, pino) call `require` for Node's built-ins.
  banner: {
    js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);",
  },
  logLevel: 'warning',
});
