/** The committed diagrams (docs/machines/) must match the machines: run `npm run diagrams` when this fails. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MACHINES, renderMachineFiles, toMermaid } from '../src/machines-render.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('machine diagrams', () => {
  for (const [path, content] of renderMachineFiles()) {
    it(`${path} is up to date (npm run diagrams)`, () => {
      expect(readFileSync(join(root, path), 'utf8')).toBe(content);
    });
  }

  it('draws every state and every targeted transition, the eventless ones included', () => {
    for (const { machine } of MACHINES) {
      const mermaid = toMermaid(machine);
      expect(mermaid.startsWith('stateDiagram-v2\n')).toBe(true);
      for (const node of machine.root.states ? Object.values(machine.root.states) : []) {
        expect(mermaid).toContain(node.key);
      }
    }
    const runner = toMermaid(MACHINES.find((entry) => entry.name === 'task-runner')!.machine);
    expect(runner).toContain('exited_deciding --> restarting : [willRestart]');
    expect(runner).toContain('restarting --> starting : after restartDelay');
    expect(runner).toContain('running --> exited : done waitTask');
    expect(runner).toContain('dead --> [*]');
  });
});
