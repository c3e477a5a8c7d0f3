/**
 * Tables for a terminal: columns that keep their width from one redraw to the next (a figure
 * growing from `9.9` to `10.0` must not shift every column right of it), and that fit the
 * terminal's width (dropping the least needed columns, then shortening text) rather than wrapping,
 * which would break the in-place redraw.
 */

export interface Column<Row> {
  title: string;
  cell(row: Row): string;
  /** Numbers are right-aligned. */
  align?: 'right';
  /** When the terminal is too narrow, lower ranks are dropped first; columns without one stay. */
  dropRank?: number;
  /** May be cut short (with `…`) down to this many characters before anything is dropped. */
  shrinkTo?: number;
}

const GAP = 2;

/** Cuts `text` to `width` characters, marking the cut. */
function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(width - 1, 0))}…`;
}

export interface TableOptions {
  /** The terminal's width; undefined (a pipe, a file): no limit. */
  width?: number | undefined;
  /** Widths seen so far, by title: a column never gets narrower than it was (kept up to date). */
  stable?: Map<string, number>;
}

export function layoutTable<Row>(columns: Column<Row>[], rows: Row[], options: TableOptions = {}): string[] {
  const cells = rows.map((row) => columns.map((column) => column.cell(row)));
  const natural = columns.map((column, index) =>
    Math.max(
      column.title.length,
      options.stable?.get(column.title) ?? 0,
      ...cells.map((row) => (row[index] ?? '').length),
    ),
  );
  for (const [index, column] of columns.entries()) options.stable?.set(column.title, natural[index] ?? 0);

  const widths = [...natural];
  const shown = columns.map(() => true);
  const total = () =>
    widths.reduce((sum, width, index) => sum + (shown[index] ? width : 0), 0) +
    GAP * (shown.filter(Boolean).length - 1);
  const limit = options.width;
  if (limit !== undefined) {
    // 1. Shorten what may be shortened; 2. drop columns, least needed first.
    for (const [index, column] of columns.entries()) {
      if (total() <= limit) break;
      if (column.shrinkTo === undefined) continue;
      const width = widths[index] ?? 0;
      widths[index] = Math.min(
        width,
        Math.max(column.shrinkTo, column.title.length, width - (total() - limit)),
      );
    }
    const byRank = columns
      .map((column, index) => ({ rank: column.dropRank, index }))
      .filter((entry): entry is { rank: number; index: number } => entry.rank !== undefined)
      .sort((a, b) => a.rank - b.rank);
    for (const { index } of byRank) {
      if (total() <= limit) break;
      shown[index] = false;
    }
  }

  const line = (texts: string[]) =>
    texts
      .map((text, index) => {
        if (!shown[index]) return undefined;
        const width = widths[index] ?? 0;
        const fitted = cut(text, width);
        return columns[index]?.align === 'right' ? fitted.padStart(width) : fitted.padEnd(width);
      })
      .filter((text) => text !== undefined)
      .join(' '.repeat(GAP))
      .trimEnd();
  // Last resort, on a very narrow terminal: cut each line rather than let it wrap.
  const fit = (text: string) => (limit !== undefined ? cut(text, limit) : text);
  return [line(columns.map((column) => column.title)), ...cells.map(line)].map(fit);
}
