/**
 * Every module of machines/ loads. Runs first in the mutation run, and imports nothing statically: a
 * mutant that breaks a machine's definition (no states, a target that does not exist) throws while
 * the module loads, which fails the importing files as a whole and no test in them; here it fails a
 * test, by the file's name, so the mutant counts as killed.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const dir = new URL('../../machines/', import.meta.url);
const modules = readdirSync(fileURLToPath(dir)).filter((file) => file.endsWith('.ts'));

it('finds the machines', () => {
  expect(modules.length).toBeGreaterThan(0);
});

it.each(modules)('machines/%s loads', async (file) => {
  const loaded = (await import(new URL(file.replace(/\.ts$/, '.js'), dir).href)) as Record<string, unknown>;
  expect(Object.keys(loaded).length).toBeGreaterThan(0);
});
