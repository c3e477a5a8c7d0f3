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
  const byActor = new WeakMap<AnyActorRef, T>();
  return {
    register: (actor, effects) => void byActor.set(actor, effects),
    of(actor) {
      const effects = actor && byActor.get(actor);
      if (!effects) throw new Error(`${what} effects not registered for this actor`);
      return effects;
    },
  };
}
