/**
 * The agent's saved state (`<data dir>/state.json`): the allocations, each task's spec, driver
 * handle, runner state, restart count and window, and each plugin's reattach config. Versioned: a
 * state from a newer taskpulse, or one that does not parse, is a `StateError` naming the file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { StateError } from './errors.js';

export const STATE_FILE = 'state.json';
/** The plugins' stderr logs, in the data dir: an agent attaching to a plugin relays the same file. */
export const PLUGIN_LOG_DIR = 'plugins';
/** Bumped when the shape changes in a way older agents cannot read. */
export const STATE_VERSION = 1;

const exit = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  oomKilled: z.boolean(),
  error: z.string().optional(),
});

/** Loose: a driver's handle may carry more than the contract names; all of it goes back to `recoverTask`. */
const handle = z.looseObject({
  taskId: z.string(),
  startedAt: z.number(),
  pid: z.number().int().positive().optional(),
  driverId: z.string().optional(),
  /** The driver's own re-attach facts (exec: start time, cgroup, log paths). */
  driverState: z.record(z.string(), z.unknown()).optional(),
});

const spec = z.object({
  id: z.string(),
  name: z.string(),
  allocId: z.string().optional(),
  config: z.record(z.string(), z.unknown()),
  env: z.record(z.string(), z.string()).optional(),
  resources: z
    .object({ cpuMhz: z.number().optional(), memoryMb: z.number().optional(), cores: z.number().optional() })
    .optional(),
  logs: z.object({ maxFiles: z.number(), maxFileSizeBytes: z.number() }).optional(),
});

const savedTask = z.object({
  name: z.string(),
  /** The driver's key in the agent (`exec`, `docker`, `plugin:<name>`). */
  driver: z.string(),
  spec,
  /** The runner's state when saved (`pending`, `starting`, `running`, `exited`, `restarting`, `dead`, …). */
  state: z.string(),
  handle: handle.optional(),
  restarts: z.number().int().nonnegative(),
  restartWindow: z.object({ startedAt: z.number(), count: z.number().int().nonnegative() }).optional(),
  failed: z.boolean(),
  lastExit: exit.optional(),
});

const savedAllocation = z.object({
  id: z.string(),
  job: z.string(),
  group: z.string(),
  index: z.number().int().nonnegative(),
  tasks: z.array(savedTask),
});

/**
 * A plugin's `PluginReattachConfig` (src/plugins/plugin-driver.ts), every field of it: `startTime`
 * is what tells the plugin from a later process that got its pid, so dropping it (zod strips keys
 * it does not name) would make a reused pid look like the plugin.
 */
const reattach = z.object({
  protocol: z.literal('grpc'),
  protocolVersion: z.number().int(),
  address: z.string(),
  pid: z.number().int().positive(),
  /** Clock ticks after boot (/proc/<pid>/stat field 22). */
  startTime: z.number().int().nonnegative().optional(),
});

const agentState = z.object({
  version: z.literal(STATE_VERSION),
  savedAt: z.number(),
  agent: z.object({ pid: z.number().int() }),
  allocations: z.array(savedAllocation),
  /** By plugin name (`exec` for the out-of-process exec driver). */
  plugins: z.record(z.string(), reattach),
});

export type SavedTask = z.infer<typeof savedTask>;
export type SavedPlugin = z.infer<typeof reattach>;
export type SavedAllocation = z.infer<typeof savedAllocation>;
export type AgentState = z.infer<typeof agentState>;

/** The saved state, or undefined when the data dir has none (a first start, or a clean stop). */
export async function readState(dir: string): Promise<AgentState | undefined> {
  const path = join(dir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateError(`cannot read the agent state ${path}: ${(error as Error).message}`);
  }
  return parseState(text, path);
}

export function parseState(text: string, path: string): AgentState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StateError(
      `the agent state ${path} is corrupt (${(error as Error).message}); nothing was started. Move it away to start afresh (its tasks, if any still run, are then not supervised)`,
    );
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > STATE_VERSION) {
    throw new StateError(
      `the agent state ${path} was written by a newer taskpulse (state version ${version}; this one reads ${STATE_VERSION}); nothing was started`,
    );
  }
  const parsed = agentState.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'the file';
    throw new StateError(
      `the agent state ${path} is corrupt (${where}: ${issue?.message ?? 'invalid'}); nothing was started`,
    );
  }
  return parsed.data;
}
