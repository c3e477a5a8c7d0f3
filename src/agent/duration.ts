/**
 * Durations in job files and flags: a string with a unit as Nomad writes them (`"500ms"`, `"5s"`,
 * `"1m30s"`, `"24h"`), or `0`, which needs none (as Go's `time.ParseDuration`). Hand-parsed: the
 * grammar is five units and a loop.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Milliseconds for a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const source = text.trim();
  if (source === '') return undefined;
  if (/^0+(\.0+)?$/.test(source)) return 0;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < source.length) {
    const start = PART.lastIndex;
    const match = PART.exec(source);
    if (!match || match.index !== start) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** A number without its unit (other than zero): seconds or milliseconds, nobody can tell. */
export function isUnitless(text: string): boolean {
  return /^\d+(\.\d+)?$/.test(text.trim()) && Number(text) !== 0;
}

/** The hint for a bare number: both readings, so the user picks the one they meant. */
export function unitHint(value: number | string): string {
  return `needs a unit: "${value}s" or "${value}ms"`;
}

/** `1500` → `"1.5s"`, for messages and docs. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${ms / 1000}s`;
  if (ms < 3_600_000) return `${ms / 60_000}m`;
  return `${ms / 3_600_000}h`;
}
