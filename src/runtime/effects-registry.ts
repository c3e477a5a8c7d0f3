import type { AnyActorRef } from 'xstate';

/**
 * Per-actor effects for a machine provided once per process. `machine.provide()` per task rebuilds
 * the whole state-node tree (~13 KiB and ~0.5 ms a task, docs/benchmarks.md), so the provided
 * implementations find the task's own driver, logger and updater here, by the actor they run for.
 */
export interface EffectsRegistry<T> {
  register(actor: AnyActorRef, effects: T): void;
  /** The effects of `actor`; throws for an actor that was never registered (a wiring bug). */
  of(actor: AnyActorRef | undefined): T;
}

export function createEffectsRegistry<T>(what: string): EffectsRegistry<T> {
  // The effects live on the actor under a key of this registry's own, not in a WeakMap: a WeakMap
  // entry is an ephemeron that V8 clears only in a full mark-compact, so 10,000 stopped tasks kept
  // their drivers and loggers alive through the scavenges after stop (heap back within 4.6 % instead
  // of 1.4 %, docs/benchmarks.md). A symbol key is invisible to XState and to JSON.
  const key = Symbol(`${what} effects`);
  type Holder = AnyActorRef & { [key]?: T };
  return {
    register: (actor, effects) => {
      (actor as Holder)[key] = effects;
    },
    of(actor) {
      const effects = (actor as Holder | undefined)?.[key];
      if (effects === undefined) throw new Error(`${what} effects not registered for this actor`);
      return effects;
    },
  };
}
