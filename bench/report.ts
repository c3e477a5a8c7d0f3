/**
 * Shared reporting: prints a benchmark's figures as a table and rewrites that benchmark's section of
 * `docs/benchmarks.md` (the latest run only; everything outside the markers is hand-written and kept).
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';

export interface Row {
  metric: string;
  value: string;
  /** The target, as written in the issue; empty for context figures. */
  target?: string;
  /** undefined: no target (a context figure). */
  met?: boolean;
}

export interface BenchResult {
  /** `tight-loop`, `scale`, `exec-sampling`: also the section's marker. */
  name: string;
  title: string;
  rows: Row[];
  /** Lines printed under the table (how it was measured, caveats). */
  notes?: string[];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory: string;
  node: string;
  os: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

const verdict = (row: Row) => (row.met === undefined ? '' : row.met ? 'met' : 'NOT MET');

function pad(cells: string[][]): string[] {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0))) ?? [];
  return cells.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** The console table. */
export function printResult(result: BenchResult): void {
  const cells = [
    ['metric', 'value', 'target', ''],
    ...result.rows.map((row) => [row.metric, row.value, row.target ?? '', verdict(row)]),
  ];
  const lines = pad(cells);
  console.log(`\n== ${result.title} ==`);
  console.log(lines[0]);
  console.log('-'.repeat(lines[0]?.length ?? 0));
  for (const line of lines.slice(1)) console.log(line);
  for (const note of result.notes ?? []) console.log(`  · ${note}`);
}

const escapeCell = (text: string) => text.replaceAll('|', '\\|');

/** A table padded the way Biome formats markdown, so `biome check` stays clean after a run. */
function markdownTable(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(3, ...rows.map((row) => row[i]?.length ?? 0))) ?? [];
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const [head = [], ...body] = rows;
  return [line(head), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)];
}

/** The markdown section (between the markers) for one run. */
export function markdownSection(result: BenchResult, command: string, date: Date): string {
  const machine = machineInfo();
  const lines = [
    `### ${result.title}`,
    '',
    `Latest run: ${date.toISOString()} · command: \`${command}\``,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory} RAM, Node ${machine.node}, ${machine.os}`,
    '',
    ...markdownTable([
      ['metric', 'value', 'target', 'verdict'],
      ...result.rows.map((row) => [
        escapeCell(row.metric),
        escapeCell(row.value),
        escapeCell(row.target ?? ''),
        row.met === undefined ? '' : row.met ? 'met' : '**not met**',
      ]),
    ]),
  ];
  if (result.notes?.length) lines.push('', ...result.notes.map((note) => `- ${note}`));
  return lines.join('\n');
}

const markers = (name: string) => [`<!-- bench:${name}:start -->`, `<!-- bench:${name}:end -->`] as const;

/**
 * Replaces the benchmark's section in the document, or appends it under "Latest runs" when the
 * markers are not there yet.
 */
export function replaceSection(document: string, name: string, section: string): string {
  const [start, end] = markers(name);
  const block = `${start}\n${section}\n${end}`;
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  if (from !== -1 && to > from) return document.slice(0, from) + block + document.slice(to + end.length);
  return `${document.trimEnd()}\n\n${block}\n`;
}

export async function writeSection(path: string, result: BenchResult, command: string): Promise<void> {
  const document = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  await writeFile(path, replaceSection(document, result.name, markdownSection(result, command, new Date())));
}

/** Formatting helpers shared by the benchmarks. */
export const fmt = {
  ms: (value: number) => `${value.toFixed(value < 10 ? 2 : 0)} ms`,
  pct: (value: number) => `${value.toFixed(1)} %`,
  kib: (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`,
  mib: (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`,
  ratio: (value: number) => `${value.toFixed(2)}×`,
  int: (value: number) => Math.round(value).toLocaleString('en-US'),
};

export interface BenchOptions {
  /** Seconds-long run for CI: the same code paths with small N and short windows; docs untouched. */
  smoke: boolean;
}

export type Benchmark = (options: BenchOptions) => Promise<BenchResult>;
