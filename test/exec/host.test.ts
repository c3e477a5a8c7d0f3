import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { hostHasSwap } from '../../src/drivers/exec/host-cpu.js';

const dir = mkdtempSync(join(tmpdir(), 'taskpulse-meminfo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const meminfo = (text: string) => {
  const path = join(dir, `meminfo-${Math.random()}`);
  writeFileSync(path, text);
  return path;
};

it('tells whether the host has swap from SwapTotal, assuming it does when unsure', () => {
  expect(hostHasSwap(meminfo('MemTotal: 24684092 kB\nSwapTotal:             0 kB\n'))).toBe(false);
  expect(hostHasSwap(meminfo('MemTotal: 24684092 kB\nSwapTotal:       2097148 kB\n'))).toBe(true);
  expect(hostHasSwap(meminfo('MemTotal: 24684092 kB\n'))).toBe(true);
  expect(hostHasSwap(join(dir, 'missing'))).toBe(true);
});
