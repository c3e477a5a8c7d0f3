/**
 * The live table and the summary, drawn from a real agent on the mock driver under fake time, into
 * a stream that says it is a terminal of a given width.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAgent } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { formatUptime } from '../../src/cli/format.js';
import { startLiveView } from '../../src/cli/live-view.js';
import { layoutTable } from '../../src/cli/table-layout.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';

afterEach(() => {
  vi.useRealTimers();
});
const leaks = useLeakCheck();

/** A terminal `columns` wide; `frames()` splits what was written into redraws. */
function terminal(columns: number) {
  let text = '';
  const out = {
    isTTY: true,
    columns,
    write(chunk: string) {
      text += chunk;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  // Each redraw starts by moving the cursor up (`ESC [ n F`) and clearing (`ESC [ J`).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape sequences are the point
  const frames = () => text.split(/\x1b\[\d+F\x1b\[J/);
  return { out, frames, text: () => text };
}

const JOB = (count: number) =>
  parseJob({
    name: 'j',
    type: 'batch',
    groups: [
      {
        name: 'web',
        count,
        restart: { attempts: 0, mode: 'fail' },
        tasks: [
          {
            name: 'server',
            driver: 'mock',
            stats_interval: 100,
            resources: { memory: 256 },
            config: { runForMs: 5000, exitCode: 3, cpuPercent: 42, rssBytes: 64 * 2 ** 20 },
          },
          {
            name: 'quiet',
            driver: 'mock',
            config: { runForMs: 1000, stats: [{ notImplemented: true }] },
          },
        ],
      },
    ],
  });

async function runWithView(count: number, columns: number) {
  vi.useFakeTimers();
  const logs = captureLogs();
  const agent = createAgent({ jobs: [JOB(count)], logger: logs.logger });
  const tty = terminal(columns);
  const view = startLiveView(agent, 'table', tty.out, 1000);
  await agent.start();
  await vi.advanceTimersByTimeAsync(3500);
  const running = tty.frames().at(-1) ?? '';
  await vi.advanceTimersByTimeAsync(3000);
  const summary = await agent.done;
  view.finish(summary);
  for (const alloc of agent.allocations)
    for (const task of alloc.tasks.values()) leaks.track(task.runner.actor);
  return { running, all: tty.text(), tty, summary };
}

describe('the live table', () => {
  it('shows UPTIME, MEM / LIMIT, EXIT and FAILED, no ALLOC column for single allocations, `-` for the unmeasured', async () => {
    const { running, all } = await runWithView(1, 200);
    const [header, server, quiet] = running.trimEnd().split('\n');
    expect(header?.split(/ {2,}/)).toEqual([
      'TASK',
      'STATE',
      'UPTIME',
      'CPU %',
      'MEM / LIMIT',
      'RESTARTS',
      'EXIT',
      'FAILED',
      'LAST EVENT',
    ]);
    expect(server).toMatch(/^web\/server +running +3s +42\.0 +64\.0 MiB \/ 256 MiB +0 +- +no +Started$/);
    // The quiet task has exited (exit 0 after 1 s), and its driver measures nothing.
    expect(quiet).toMatch(/^web\/quiet +dead +- +- +- \/ - +0 +0 +no +/);
    // The summary: `-` where nothing was measured, as the live table shows it.
    const summary = all.slice(all.lastIndexOf('\n\nTASK')).trim().split('\n');
    expect(summary[0]?.split(/ {2,}/)).toEqual([
      'TASK',
      'STATE',
      'EXIT',
      'RESTARTS',
      'FAILED',
      'PEAK RSS',
      'CPU s',
    ]);
    expect(summary[1]).toMatch(/^web\/server +dead +3 +0 +yes +64\.0 MiB +\d+\.\d\d$/);
    expect(summary[2]).toMatch(/^web\/quiet +dead +0 +0 +no +- +-$/);
  });

  it('adds an ALLOC column when a group runs more than one allocation', async () => {
    const { running, summary, all } = await runWithView(2, 200);
    const lines = running.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ALLOC +TASK +STATE/);
    const ids = summary.tasks.map((task) => task.allocId.slice(0, 8));
    expect(lines.slice(1).map((line) => line.slice(0, 8))).toEqual(ids);
    expect(all.slice(all.lastIndexOf('\n\nALLOC'))).toContain(`${ids[0]}  web/server`);
  });

  it('fits a narrow terminal by dropping the least needed columns, never wrapping', async () => {
    const { tty } = await runWithView(2, 60);
    const lines = tty
      .text()
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape sequences are the point
      .replace(/\x1b\[\d+F\x1b\[J/g, '')
      .split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(60);
    const header = tty.frames().at(-1)?.split('\n')[0] ?? '';
    expect(header).toMatch(/TASK +STATE/);
    expect(header).toContain('CPU %');
    expect(header).not.toContain('LAST EVENT');
  });
});

describe('table layout', () => {
  const columns = [
    { title: 'NAME', cell: (row: string[]) => row[0] ?? '', shrinkTo: 6 },
    { title: 'CPU %', align: 'right' as const, cell: (row: string[]) => row[1] ?? '' },
    { title: 'NOTE', dropRank: 1, cell: (row: string[]) => row[2] ?? '' },
  ];

  it('keeps a column as wide as it has been, so figures do not shift between redraws', () => {
    const stable = new Map<string, number>();
    expect(layoutTable(columns, [['a', '100.0', 'x']], { stable })).toEqual([
      'NAME  CPU %  NOTE',
      'a     100.0  x',
    ]);
    expect(layoutTable(columns, [['a', '9.5', 'x']], { stable })).toEqual([
      'NAME  CPU %  NOTE',
      'a       9.5  x',
    ]);
  });

  it('shortens, then drops, then cuts to fit the width', () => {
    const rows = [['a-rather-long-name', '1.0', 'a note']];
    expect(layoutTable(columns, rows)).toEqual([
      'NAME                CPU %  NOTE',
      'a-rather-long-name    1.0  a note',
    ]);
    expect(layoutTable(columns, rows, { width: 26 })).toEqual([
      'NAME         CPU %  NOTE',
      'a-rather-l…    1.0  a note',
    ]);
    expect(layoutTable(columns, rows, { width: 14 })).toEqual(['NAME    CPU %', 'a-rat…    1.0']);
    for (const line of layoutTable(columns, rows, { width: 5 })) expect(line.length).toBeLessThanOrEqual(5);
  });

  it('formats uptimes', () => {
    expect([0, 42_000, 185_000, 7_380_000, 367_200_000].map(formatUptime)).toEqual([
      '0s',
      '42s',
      '3m05s',
      '2h03m',
      '4d06h',
    ]);
  });
});
