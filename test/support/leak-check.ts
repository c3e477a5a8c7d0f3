/**
 * "Nothing left behind" (issue 8): after a scenario, no timer, socket, server, pipe or child process
 * it created is still alive, and every actor it was given is stopped. A failing check names what
 * leaked. Usage, in a test file:
 *
 *   beforeEach(() => vi.useFakeTimers());         // your own set-up first…
 *   afterEach(() => vi.useRealTimers());
 *   const leaks = useLeakCheck();                 // …then this: its afterEach runs before yours
 *   it('…', () => { const runner = createTaskRunner(…); leaks.track(runner.actor); … });
 *
 * or by hand: `const check = startLeakCheck(); …; await check.verify({ actors: [actor] })`.
 */
import { createHook } from 'node:async_hooks';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, vi } from 'vitest';

/** Captured at import, before any test fakes them: the checks wait on the real event loop. */
const realSetTimeout = globalThis.setTimeout;
const realSetImmediate = globalThis.setImmediate;

/**
 * Real handle kinds that mean a scenario left something running, as async_hooks names them. Tracked
 * from creation to destruction rather than by diffing `process.getActiveResourcesInfo()` counts,
 * whose baseline moves under a test runner's own timers: this names exactly what the scenario made.
 */
const WATCHED_RESOURCES: Record<string, string> = {
  Timeout: 'timer',
  Immediate: 'setImmediate',
  TCPSERVERWRAP: 'TCP server',
  TCPWRAP: 'TCP socket',
  PIPESERVERWRAP: 'pipe server',
  PIPEWRAP: 'pipe',
  PROCESSWRAP: 'child process handle',
  UDPWRAP: 'UDP socket',
  FSEVENTWRAP: 'fs watcher',
  STATWATCHER: 'stat watcher',
  SIGNALWRAP: 'signal listener',
};

interface Tracked {
  type: string;
  resource: unknown;
}

/** A Timeout that fired or was cleared is destroyed; one still referenced keeps the process alive. */
function stillAlive({ type, resource }: Tracked): boolean {
  if (type !== 'Timeout') return true;
  const timer = resource as { hasRef?: () => boolean; _destroyed?: boolean };
  return timer._destroyed !== true && timer.hasRef?.() !== false;
}

function describeResource({ type, resource }: Tracked): string {
  const name = WATCHED_RESOURCES[type] ?? type;
  if (type === 'Timeout') {
    const timer = resource as { _idleTimeout?: number; _repeat?: number | null };
    return `${timer._repeat ? 'interval' : name} of ${timer._idleTimeout} ms`;
  }
  return name;
}

/** Anything with XState's snapshot status: an actor, or an object holding one. */
export interface ActorLike {
  readonly id?: string;
  getSnapshot(): { status: string; children?: Record<string, unknown> };
}

export interface VerifyOptions {
  actors?: readonly ActorLike[];
  /** How long real resources may take to close (sockets close asynchronously). Default 1000 ms. */
  settleMs?: number;
}

interface ChildProcessInfo {
  pid: number;
  command: string;
  state: string;
}

/** Processes whose parent is this process, from /proc (Linux); zombies included: nobody reaped them. */
export function childProcesses(): ChildProcessInfo[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children: ChildProcessInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const [state = '?', ppid = ''] = stat.slice(close + 2).split(' ');
    if (Number(ppid) !== process.pid) continue;
    children.push({ pid: Number(entry), command: stat.slice(stat.indexOf('(') + 1, close), state });
  }
  return children;
}

function actorProblems(actor: ActorLike, path: string, problems: string[]): void {
  const snapshot = actor.getSnapshot();
  if (snapshot.status === 'active') problems.push(`actor ${path} is still active`);
  else if (snapshot.status === 'error') problems.push(`actor ${path} ended in error`);
  for (const [id, child] of Object.entries(snapshot.children ?? {})) {
    if (child && typeof (child as ActorLike).getSnapshot === 'function') {
      actorProblems(child as ActorLike, `${path} › ${id}`, problems);
    }
  }
}

const nextTurn = () => new Promise<void>((resolve) => realSetImmediate(resolve));
const sleepReal = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

export interface LeakCheck {
  /** Actors the next `verify` must find stopped. */
  track(...actors: ActorLike[]): void;
  /** Throws, naming every leak, when the scenario left something behind. Kills leaked children. */
  verify(options?: VerifyOptions): Promise<void>;
}

/**
 * Starts watching now: only what is created from here on can leak (vitest's own handles cannot).
 * Always call `verify` afterwards: it also stops the watching.
 */
export function startLeakCheck(): LeakCheck {
  const created = new Map<number, Tracked>();
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      if (type in WATCHED_RESOURCES) created.set(asyncId, { type, resource });
    },
    destroy(asyncId) {
      created.delete(asyncId);
    },
  }).enable();
  const baselineChildren = new Set(childProcesses().map((child) => child.pid));
  const tracked: ActorLike[] = [];

  const findLeaks = (actors: readonly ActorLike[]): string[] => {
    const problems: string[] = [];
    if (vi.isFakeTimers()) {
      const pending = vi.getTimerCount();
      if (pending > 0) problems.push(`${pending} fake timer(s) pending`);
    }
    for (const tracked of created.values()) {
      if (stillAlive(tracked)) problems.push(`${describeResource(tracked)} still open`);
    }
    for (const child of childProcesses()) {
      if (baselineChildren.has(child.pid)) continue;
      problems.push(`child process ${child.pid} (${child.command}, state ${child.state})`);
    }
    for (const actor of actors) actorProblems(actor, actor.id ?? 'actor', problems);
    return problems;
  };

  return {
    track: (...actors) => tracked.push(...actors),
    async verify({ actors = [], settleMs = 1000 } = {}) {
      const all = [...tracked, ...actors];
      tracked.length = 0;
      // Real handles and children may need a few event-loop turns to close: poll, bounded.
      // (Counted in turns, not by a clock a test may have faked.)
      const turns = 10 + Math.ceil(settleMs / 10);
      let problems = findLeaks(all);
      for (let turn = 0; problems.length > 0 && turn < turns; turn++) {
        await (turn < 10 ? nextTurn() : sleepReal(10));
        problems = findLeaks(all);
      }
      hook.disable();
      if (problems.length === 0) return;
      for (const child of childProcesses()) {
        if (!baselineChildren.has(child.pid)) {
          try {
            process.kill(child.pid, 'SIGKILL'); // ours: do not let one leak break the next test
          } catch {}
        }
      }
      throw new Error(`scenario left things behind:\n  - ${problems.join('\n  - ')}`);
    },
  };
}

/** Registers a baseline before and a verification after each test of the enclosing file or describe. */
export function useLeakCheck(): { track(...actors: ActorLike[]): void } {
  let check: LeakCheck | undefined;
  beforeEach(() => {
    check = startLeakCheck();
  });
  afterEach(async () => {
    await check?.verify();
  });
  return { track: (...actors) => check?.track(...actors) };
}
