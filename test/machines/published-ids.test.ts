/**
 * A machine's `id` is read by nothing at run time unless a target names it (`#taskRunner.exited`),
 * but it is published: the heading of each `docs/machines/<name>.md` and `npx taskpulse machines`
 * name the machine by it. The whole rendering is checked by `test/diagrams.test.ts`; this checks only
 * the heading, so it also holds under Stryker, whose instrumented code renders other function names
 * into the JSON definitions (the mutation run's stats hook and plugin supervisor groups run it).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MACHINES, toMarkdown } from '../../src/machines-render.js';

const heading = (text: string) => text.split('\n', 1)[0];

describe('published machine ids', () => {
  it.each(MACHINES.map((entry) => [entry.name, entry] as const))(
    'docs/machines/%s.md names the machine by its id',
    (name, entry) => {
      const published = readFileSync(new URL(`../../docs/machines/${name}.md`, import.meta.url), 'utf8');
      expect(heading(published)).toBe(heading(toMarkdown(entry)));
      expect(heading(published)).toContain(`(\`${entry.machine.id}\`)`);
    },
  );
});
