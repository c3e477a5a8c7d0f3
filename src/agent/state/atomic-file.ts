/**
 * Crash-safe whole-file replace: the new bytes go to a temp file that is fsynced, renamed over the
 * old one, and the directory is fsynced, so a crash (or power loss) at any instant leaves either the
 * old file or the new one, never a torn mix. A temp file a crash left behind is overwritten next time.
 */
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp`);
  const file = await open(temp, 'w', 0o600);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  // The rename is a change of the directory: without this fsync it may not survive a power loss.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
