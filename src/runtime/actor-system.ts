import { type AnyActorRef, createActor, fromCallback, type InspectionEvent, type Observer } from 'xstate';

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/**
 * The root of an actor system that task runners join (as `parent`). The root is a callback actor
 * that ignores what its children report, so one runner's failure never stops the others. Give all
 * of an agent's runners one root when the whole tree must be inspected.
 */
export function createSupervisorRoot(options: { id?: string; inspect?: InspectOption } = {}): AnyActorRef {
  const root = createActor(
    fromCallback(() => {}),
    { id: options.id ?? 'taskpulse', ...(options.inspect ? { inspect: options.inspect } : {}) },
  );
  root.start();
  return root;
}

/**
 * How many runners share one actor system by default. XState scans every delayed event of a system
 * whenever one of its actors stops (`scheduler.cancelAll`), so a single system for 10,000 runners
 * makes starting and stopping them quadratic (~60 s); a system per runner costs ~11 KiB of heap per
 * task (its maps and timer tables). Systems of a few dozen runners keep both small
 * (docs/benchmarks.md).
 */
const RUNNERS_PER_SYSTEM = 32;

interface SharedRoot {
  root: AnyActorRef;
  members: number;
}

let filling: SharedRoot | undefined;

/** A root for one more runner; call `release` when the runner is final (the last one out stops it). */
export function acquireSharedRoot(): { root: AnyActorRef; release: () => void } {
  if (!filling || filling.members >= RUNNERS_PER_SYSTEM)
    filling = { root: createSupervisorRoot(), members: 0 };
  const shared = filling;
  shared.members += 1;
  let released = false;
  return {
    root: shared.root,
    release() {
      if (released) return;
      released = true;
      shared.members -= 1;
      if (shared.members === 0 && shared !== filling) shared.root.stop();
    },
  };
}
