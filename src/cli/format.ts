/** Human figures for tables and summaries. */
import { type Column, layoutTable } from './table-layout.js';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** A figure for a table cell: `-` when it was not measured (never a made-up 0). */
export function formatOptional(value: number | undefined, format: (value: number) => string): string {
  return value === undefined ? '-' : format(value);
}

/** A figure for JSON output: rounded to `digits`, or null when it was not measured. */
export function roundOrNull(value: number | undefined, digits: number): number | null {
  return value === undefined ? null : Number(value.toFixed(digits));
}

/** Left-aligned columns, two spaces apart; numbers right-aligned when `right` says so. */
export function renderColumns(
  header: string[],
  rows: string[][],
  right: ReadonlySet<number> = new Set(),
): string[] {
  const columns = header.map(
    (title, index): Column<string[]> => ({
      title,
      cell: (row) => row[index] ?? '',
      ...(right.has(index) ? { align: 'right' as const } : {}),
    }),
  );
  return layoutTable(columns, rows);
}

/** How long a task has run: `42s`, `3m05s`, `2h03m`, `4d06h`. */
export function formatUptime(ms: number): string {
  const seconds = Math.max(Math.floor(ms / 1000), 0);
  const pad = (value: number) => String(value).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${pad(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86_400)}d${pad(Math.floor(seconds / 3600) % 24)}h`;
}
