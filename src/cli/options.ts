/** Option parsers shared by the commands. */
import { InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../agent/duration.ts';
import { DEFAULT_INSPECT_PORT } from './inspection.ts';

export function durationArg(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration like 500ms, 5s or 1m');
  return ms;
}

export function portArg(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError('expected a port');
  return port;
}

export const outputOption = () =>
  new Option(
    '--output <mode>',
    'stdout: a live table (TTY default), JSON lines (pipe default) or nothing',
  ).choices(['auto', 'table', 'json', 'none']);

export const inspectOptions = () => [
  new Option(
    '--inspect [port]',
    `serve the Stately inspector relay (default port ${DEFAULT_INSPECT_PORT})`,
  ).argParser((value: string) => {
    // The relay's page embeds its own port, so it needs a fixed one.
    const port = portArg(value);
    if (port === 0) throw new InvalidArgumentError('the inspector needs a fixed port');
    return port;
  }),
  new Option('--record-inspection <file>', 'record inspection events to a JSONL file'),
];

export interface InspectFlags {
  inspect?: number | true;
  recordInspection?: string;
}

export function inspectSettings(flags: InspectFlags): { inspectPort?: number; recordFile?: string } {
  return {
    ...(flags.inspect === undefined
      ? {}
      : { inspectPort: flags.inspect === true ? DEFAULT_INSPECT_PORT : flags.inspect }),
    ...(flags.recordInspection === undefined ? {} : { recordFile: flags.recordInspection }),
  };
}
