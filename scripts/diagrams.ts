/**
 * `npm run diagrams`: writes each machine as Mermaid (`docs/machines/<name>.md`) and as a JSON
 * definition (`docs/machines/<name>.json`). `--check` writes nothing and exits 1 when a file is stale.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderMachineFiles } from '../src/machines-render.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [path, content] of renderMachineFiles()) {
  const file = join(root, path);
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === content) continue;
  if (check) {
    stale += 1;
    console.error(`stale: ${path}`);
    continue;
  }
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content);
  console.log(`wrote ${path}`);
}
if (stale > 0) {
  console.error('run `npm run diagrams` to regenerate');
  process.exitCode = 1;
}
