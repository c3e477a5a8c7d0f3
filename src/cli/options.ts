/** Option parsers shared by the commands. */
import { InvalidArgumentError, Option } from 'commander';
import { MAX_DURATION_MS, MIN_STATS_INTERVAL_MS } from '../agent/defaults.js';
import { isUnitless, parseDuration, unitHint } from '../agent/duration.js';
import { cgroupParentProblem } from '../drivers/exec/cgroups.js';
import { DEFAULT_INSPECT_PORT } from './inspection.js';

/**
 * A duration flag, with a unit as in job files: a bare number is refused (is `5` seconds or
 * milliseconds?), except 0. Commander prints these as
 * `option '--x <v>' argument 'value' is invalid. <message>`.
 */
export function durationArg(value: string): number {
  if (isUnitless(value)) throw new InvalidArgumentError(unitHint(value.trim()));
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration like 500ms, 5s or 1m');
  if (ms > MAX_DURATION_MS) throw new InvalidArgumentError(`at most ${MAX_DURATION_MS}ms (about 24.8 days)`);
  return ms;
}

/** A sampling interval: a duration, not so short that the agent would spin. */
export function intervalArg(value: string): number {
  const ms = durationArg(value);
  if (ms < MIN_STATS_INTERVAL_MS) throw new InvalidArgumentError(`at least ${MIN_STATS_INTERVAL_MS}ms`);
  return ms;
}

export function portArg(value: string): number {
  // Digits only: `Number` would take '', ' 80', '0x50' and '1e3'.
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) throw new InvalidArgumentError('expected a port (0 to 65535)');
  return port;
}

/** Prometheus metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*` (prom-client would throw at start otherwise). */
export function metricsPrefixArg(value: string): string {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(value)) {
    throw new InvalidArgumentError('expected letters, digits, "_" or ":", not starting with a digit');
  }
  return value;
}

/** `--cgroup-parent`: a relative path of plain names, checked before anything is created. */
export function cgroupParentArg(value: string): string {
  const problem = cgroupParentProblem(value);
  if (problem) throw new InvalidArgumentError(`the cgroup parent ${problem}`);
  return value;
}

/** `--cgroup-parent` / `TASKPULSE_CGROUP_PARENT`, shared by `agent` and `run`. */
export const cgroupParentOption = () =>
  new Option(
    '--cgroup-parent <name>',
    'cgroup under which exec tasks get theirs, e.g. taskpulse or batch/tp (default taskpulse)',
  )
    .env('TASKPULSE_CGROUP_PARENT')
    .argParser(cgroupParentArg);

export const outputOption = () =>
  new Option(
    '--output <mode>',
    'stdout: a live table (TTY default), JSON lines (pipe default) or nothing',
  ).choices(['auto', 'table', 'json', 'none']);

/** The inspector relay's page embeds its own port, so it needs a fixed one. */
function inspectPortArg(value: string): number {
  const port = portArg(value);
  if (port === 0) throw new InvalidArgumentError('the inspector needs a fixed port');
  return port;
}

/** `--inspect` never takes the next word as its port (see argv.ts): `--inspect=PORT` or `--inspect-port`. */
export const inspectOptions = () => [
  new Option(
    '--inspect',
    `serve the Stately inspector relay (port ${DEFAULT_INSPECT_PORT}; --inspect=PORT for another)`,
  ),
  new Option('--inspect-port <port>', 'port of the inspector relay (implies --inspect)').argParser(
    inspectPortArg,
  ),
  new Option('--record-inspection <file>', 'record inspection events to a JSONL file'),
];

export interface InspectFlags {
  inspect?: boolean;
  inspectPort?: number;
  recordInspection?: string;
}

export function inspectSettings(flags: InspectFlags): { inspectPort?: number; recordFile?: string } {
  const inspectPort = flags.inspectPort ?? (flags.inspect ? DEFAULT_INSPECT_PORT : undefined);
  return {
    ...(inspectPort === undefined ? {} : { inspectPort }),
    ...(flags.recordInspection === undefined ? {} : { recordFile: flags.recordInspection }),
  };
}
