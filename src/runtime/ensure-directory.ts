/**
 * Creates a directory (and its missing parents) and checks that it is writable, one path component
 * at a time with async calls. Node's `mkdir({ recursive: true })` never returns on some paths
 * (`/proc/x` spins at 100 % CPU, synchronously deaf to signals); here every component is a plain
 * `mkdir`, so a path that cannot exist is one clear error naming the component.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { join, parse, relative, resolve, sep } from 'node:path';

export class DirectoryError extends Error {}

const reason = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message;

async function isDirectory(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DirectoryError(`cannot read ${path} (${reason(error)})`);
  }
}

/** Resolves once `dir` exists and this process may create files in it; else a `DirectoryError`. */
export async function ensureWritableDirectory(dir: string): Promise<void> {
  const absolute = resolve(dir);
  const { root } = parse(absolute);
  let current = root;
  for (const part of relative(root, absolute).split(sep).filter(Boolean)) {
    current = join(current, part);
    const existing = await isDirectory(current);
    if (existing === false) throw new DirectoryError(`${current} is not a directory`);
    if (existing) continue;
    try {
      await mkdir(current);
    } catch (error) {
      // Made by someone else in between: fine if it is a directory.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && (await isDirectory(current))) continue;
      throw new DirectoryError(`cannot create ${current} (${reason(error)})`);
    }
  }
  try {
    await access(absolute, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new DirectoryError(`${absolute} is not writable (${reason(error)})`);
  }
}
