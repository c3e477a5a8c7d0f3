import { type AnyActorRef, createActor, fromCallback, type InspectionEvent, type Observer } from 'xstate';

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/**
 * The root of an actor system that task runners join (as `parent`): the agent, or one process-wide
 * default. One system for all runners is what lets the inspector show the whole tree, and it is
 * cheaper: each XState system keeps its timers in objects keyed by actor, which cost a few KiB per
 * task when every runner had a system of its own (docs/benchmarks.md). The root is a callback actor
 * that ignores what its children report, so a child's failure never stops the others.
 */
export function createSupervisorRoot(options: { id?: string; inspect?: InspectOption } = {}): AnyActorRef {
  const root = createActor(
    fromCallback(() => {}),
    { id: options.id ?? 'taskpulse', ...(options.inspect ? { inspect: options.inspect } : {}) },
  );
  root.start();
  return root;
}

let defaultRoot: AnyActorRef | undefined;

/** The process-wide root for runners created without one. */
export function defaultSupervisorRoot(): AnyActorRef {
  defaultRoot ??= createSupervisorRoot();
  return defaultRoot;
}
