/**
 * Benchmark entry point.
 *   npm run bench                  all benchmarks, full size; rewrites their sections of docs/benchmarks.md
 *   npm run bench -- scale         one (or several) by name
 *   npm run bench -- --smoke       seconds-long run of the same code paths (CI); docs untouched
 *   npm run bench -- scale --dry   print only (experiments, profiling); docs untouched
 * Run through `node --expose-gc --import tsx` so heap figures are taken after a full collection.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliStart } from './cli-start.js';
import { execSampling } from './exec-sampling.js';
import { peer } from './peer.js';
import { pluginRpc } from './plugin-rpc.js';
import { type Benchmark, printResult, writeSection } from './report.js';
import { scale } from './scale.js';
import { tightLoop } from './tight-loop.js';

const benchmarks: Record<string, Benchmark> = {
  'tight-loop': tightLoop,
  scale,
  'exec-sampling': execSampling,
  'cli-start': cliStart,
  'plugin-rpc': pluginRpc,
  peer,
};

const docsPath = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      smoke: { type: 'boolean', default: false },
      // Print only (experiments, profiling): leave docs/benchmarks.md alone.
      dry: { type: 'boolean', default: false },
    },
  });
  const unknown = positionals.filter((name) => !(name in benchmarks));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(benchmarks).join(', ')}`,
    );
    return 2;
  }
  if (typeof globalThis.gc !== 'function') {
    console.error(
      'run with node --expose-gc --import tsx bench/run.ts (npm run bench does): heap figures need gc()',
    );
    return 2;
  }
  const names = positionals.length > 0 ? positionals : Object.keys(benchmarks);
  const command = ['npm run bench', ...(positionals.length > 0 ? ['--', ...positionals] : [])].join(' ');
  let failures = 0;
  for (const name of names) {
    const bench = benchmarks[name];
    if (!bench) continue;
    const started = performance.now();
    try {
      const result = await bench({ smoke: values.smoke });
      printResult(result);
      console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      if (!values.smoke && !values.dry) await writeSection(docsPath, result, command);
    } catch (error) {
      // A benchmark that cannot run is a failure (CI's smoke run exists to catch exactly this).
      failures++;
      console.error(`benchmark ${name} failed:`, error);
    }
  }
  return failures > 0 ? 1 : 0;
}

process.exitCode = await main();
