/**
 * The agent's default data dir: `TASKPULSE_DATA_DIR`, else `/var/lib/taskpulse` for root, else
 * `$XDG_STATE_HOME/taskpulse` (`~/.local/state/taskpulse`), as the XDG base directory spec puts
 * state that outlives a process but is not worth a backup.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const DATA_DIR_HELP =
  'TASKPULSE_DATA_DIR, else /var/lib/taskpulse as root, else $XDG_STATE_HOME/taskpulse (~/.local/state/taskpulse)';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TASKPULSE_DATA_DIR) return env.TASKPULSE_DATA_DIR;
  if (process.getuid?.() === 0) return '/var/lib/taskpulse';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'taskpulse');
}
