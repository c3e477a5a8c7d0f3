/** `run --driver docker` limits, read as `docker run` reads `--cpus` and `--memory`. */
import { InvalidArgumentError } from 'commander';

/** Cores, e.g. 0.5 or 2. */
export function cpusArg(value: string): number {
  const cpus = /^\d+(\.\d+)?$|^\.\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(cpus > 0)) throw new InvalidArgumentError('expected a positive number of cores, like 0.5 or 2');
  return cpus;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** Bytes: a number with an optional unit b, k, m or g (docker's units, powers of 1024). */
export function memoryArg(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(value.trim());
  const bytes = match
    ? Math.floor(Number(match[1]) * (UNITS[match[2]!.toLowerCase()] ?? Number.NaN))
    : Number.NaN;
  if (!(bytes > 0)) throw new InvalidArgumentError('expected a size like 64m, 512k or 1g');
  return bytes;
}
